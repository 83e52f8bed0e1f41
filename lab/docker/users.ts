/**
 * The users inside the lab's image, apart from the Docker code so that the
 * pure run plan can name them.
 *
 * @module
 */

/** The user tcpdump, and the holder that starts it, drop their privileges to inside the image. */
export const CAPTURE_UID = 101;
