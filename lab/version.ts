/** The lab's version, as reports and `--version` print it. */
export const LAB_VERSION = "0.1.0";
