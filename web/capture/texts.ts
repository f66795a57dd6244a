/**
 * Every text the capture page shows or announces, in one place: to translate the page, translate
 * this module (the build puts the static ones into the HTML, the script uses the rest).
 */
export const TEXTS = {
  lang: 'en',
  pageTitle: 'Take a selfie',
  noScript: 'This page needs JavaScript to take your selfie. Turn it on and reload the page.',

  startHeading: 'Take a selfie',
  startIntro: 'We need one clear photo of your face to confirm it is really you.',
  startTipLight: 'Find a well-lit place and face the light.',
  startTipFace: 'Remove sunglasses, hats and masks.',
  startTipOval: 'Keep your whole face inside the oval.',
  startCamera: 'Open camera',
  useFile: 'Upload a photo instead',

  cameraHeading: 'Position your face',
  cameraHint: 'Look straight at the camera and keep your face inside the oval.',
  cameraVideoLabel: 'Camera preview',
  cameraChoice: 'Camera',
  cameraUnnamed: 'Camera {n}',
  takePhoto: 'Take photo',
  cameraStarting: 'Starting the camera…',

  // Guidance while the camera runs: one message per state, in plain words.
  guideStarting: 'Getting the face guide ready…',
  guideOff: 'Automatic guidance is off in this browser. Check that your whole face is inside the oval, sharp and well lit, then take the photo.',
  guideNoFace: 'We cannot see a face. Look straight at the camera.',
  guideSeveralFaces: 'We can see more than one face. Make sure only you are in the picture.',
  guideCutOff: 'Part of your face is outside the picture. Move back to the middle.',
  guideSideways: 'Your face looks sideways. Hold your phone upright and look straight at it.',
  guideTooFar: 'Move closer: your face is too small in the picture.',
  guideTooClose: 'Move back a little: your face is too close.',
  guideOffCentre: 'Move your face into the oval.',
  guideTooDark: 'It is too dark. Find more light, or face a window or a lamp.',
  guideBlurred: 'The picture is blurred. Hold still, and wipe the camera lens if needed.',
  guideSteady: 'Good. Hold still, the photo is taken in a moment.',

  fileHeading: 'Take or choose a selfie',
  fileInputLabel: 'Selfie photo',
  fileHint: 'Choose a recent photo of your face, or take one with your camera app (JPEG, PNG or WebP).',
  useCamera: 'Use the camera instead',
  fileCameraDenied: 'Camera access was not allowed. You can still take a selfie with your camera app or choose a photo.',
  fileCameraUnavailable: 'No camera could be used in this browser. You can take a selfie with your camera app or choose a photo.',
  fileUnreadable: 'That file could not be used. Choose a JPEG, PNG or WebP photo.',

  reviewHeading: 'Check your photo',
  reviewHint: 'Is your whole face clear, sharp and inside the frame?',
  reviewImageAlt: 'The photo you took',
  retake: 'Retake',
  usePhoto: 'Use this photo',

  uploadHeading: 'Sending your photo',
  uploadProgressLabel: 'Upload progress',
  uploadStarted: 'Uploading your photo.',
  uploadPercent: '{percent}% uploaded',
  checking: 'Photo received. Checking it now…',

  doneHeading: 'All done',
  doneText: 'Thank you. Your photo was received. You can close this page and return to the app.',
  doneSlow: 'Thank you. Your photo was received and is still being checked. You can close this page and return to the app.',

  problemHeading: 'Something went wrong',
  problemInvalidLink: 'This link is not valid. Open it again from the app.',
  problemExpired: 'This link has expired. Go back to the app to get a new one.',
  problemUsed: 'A photo was already sent with this link. Go back to the app to continue.',
  problemTooLarge: 'That photo is too large to send. Take a new one or choose another photo.',
  problemUpload: 'Your photo could not be sent. Check your connection and try again.',
  tryAgain: 'Try again',
} as const;

export type TextKey = keyof typeof TEXTS;

/** A text with its `{name}` placeholders filled in. */
export function text(key: TextKey, values: Record<string, string | number> = {}): string {
  return TEXTS[key].replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}
