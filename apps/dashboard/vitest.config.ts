import { nfvioProject } from "../../tooling/vitest.preset.ts";

export default nfvioProject("@nfvio/dashboard");
