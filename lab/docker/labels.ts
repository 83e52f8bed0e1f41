/**
 * The labels every resource of the lab carries, so that leftovers can
 * always be found and removed, by run or all at once.
 *
 * @module
 */

/** The label every resource of the lab carries. */
export const LAB_LABEL = "tcplab";
/** The label that names the run a resource belongs to. */
export const RUN_LABEL = "tcplab.run";
/** The label that names the process (host and pid) that made a resource. */
export const OWNER_LABEL = "tcplab.owner";
