/**
 * Below either, a face is too small for a liveness check: its box's longest side as a share of
 * the picture's short side, and in pixels. (A module of its own so that the functions' bundles
 * can name them without the pre-screen's code.)
 */
export const MIN_FACE_SHARE = 0.1;
export const MIN_FACE_PIXELS = 48;
