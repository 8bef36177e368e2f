// The steps in the order they run: identify, mount, layout, migrate, database (RDS only), then image (local build), start, verify, signal (issue 7, steps 1–7).
import type { AnyStep } from "../step.ts";
import { databaseStep } from "./database.ts";
import { identify } from "./identify.ts";
import { imageStep } from "./image.ts";
import { layout } from "./layout.ts";
import { migrateStep } from "./migrate.ts";
import { mount } from "./mount.ts";
import { signalStep } from "./signal.ts";
import { startStep } from "./start.ts";
import { verifyStep } from "./verify.ts";

export const STEPS: AnyStep[] = [identify, mount, layout, migrateStep, databaseStep, imageStep, startStep, verifyStep, signalStep];
