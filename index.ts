// opke: `pulumi up` entry point. The program itself lives in stacks/program.ts so the Automation
// API runs exactly the same function.
import { program } from "./stacks/program";

export = program;
