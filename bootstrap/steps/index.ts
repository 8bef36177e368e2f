// The steps in the order they run: identify, mount, layout, migrate, database (RDS only), then image (local build), start, launch (the launching lifecycle action), verify, signal.
import type { AnyStep } from "../step.ts";
import { databaseStep } from "./database.ts";
import { identify } from "./identify.ts";
import { imageStep } from "./image.ts";
import { launchStep } from "./launch.ts";
import { layout } from "./layout.ts";
import { migrateStep } from "./migrate.ts";
import { mount } from "./mount.ts";
import { signalStep } from "./signal.ts";
import { startStep } from "./start.ts";
import { verifyStep } from "./verify.ts";

export const STEPS: AnyStep[] = [identify, mount, layout, migrateStep, databaseStep, imageStep, startStep, launchStep, verifyStep, signalStep];
