// The steps in the order they run. Start, verify and signal (issue 7, steps 5–7) come after migrate.
import type { AnyStep } from "../step.ts";
import { identify } from "./identify.ts";
import { layout } from "./layout.ts";
import { migrateStep } from "./migrate.ts";
import { mount } from "./mount.ts";

export const STEPS: AnyStep[] = [identify, mount, layout, migrateStep];
