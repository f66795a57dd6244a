/**
 * The capture page: opened from a session's capture_url (`.../capture#<session id>`), it takes
 * one selfie with the front camera (or a file, when no camera can be used), sends it straight to
 * the upload bucket through the session's presigned POST, and says when it is done. The session
 * id stays in the fragment: it reaches the server only in the session routes it is the key of.
 */
import { readProgress, RequestFailed, requestUpload, sendForm, type Progress } from './api.ts';
import { CameraUnavailable, facesUser, listCameras, openCamera, stopCamera, type CameraProblem } from './camera.ts';
import { Guidance, type GuidanceState } from './guidance.ts';
import { captureFrame, fitForUpload } from './image.ts';
import { text, type TextKey } from './texts.ts';

/** The detector worker's file (content-hashed), served beside the page under capture/assets/; set by the build. */
declare const DETECTOR_WORKER: string;

type Step = 'start' | 'camera' | 'file' | 'review' | 'upload' | 'done' | 'problem';

const SESSION_ID = /^[A-Za-z0-9_-]{24}$/;
/** Checks usually end within seconds: poll briskly at first, then ease off. */
const pollDelayMs = (attempt: number): number => (attempt < 10 ? 500 : 1000);
const POLL_FOR_MS = 120_000;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
}

const ui = {
  video: element<HTMLVideoElement>('camera-video'),
  guidance: element<HTMLParagraphElement>('guidance'),
  cameraChoice: element<HTMLDivElement>('camera-choice'),
  cameraSelect: element<HTMLSelectElement>('camera-select'),
  takePhoto: element<HTMLButtonElement>('take-photo'),
  fileReason: element<HTMLParagraphElement>('file-reason'),
  fileInput: element<HTMLInputElement>('file-input'),
  fileError: element<HTMLParagraphElement>('file-error'),
  reviewImage: element<HTMLImageElement>('review-image'),
  uploadProgress: element<HTMLProgressElement>('upload-progress'),
  uploadText: element<HTMLParagraphElement>('upload-text'),
  doneText: element<HTMLParagraphElement>('done-text'),
  problemText: element<HTMLParagraphElement>('problem-text'),
  tryAgain: element<HTMLButtonElement>('try-again'),
  announcer: element<HTMLParagraphElement>('announcer'),
};

const sessionId = location.hash.slice(1);
let stream: MediaStream | undefined;
/** The photo under review, and where it came from (a retake goes back there). */
let photo: { image: Blob; source: 'camera' | 'file'; url: string } | undefined;
let retry: (() => void) | undefined;

const detectorUrl = new URL(`capture/assets/${DETECTOR_WORKER}`, new URL('.', location.href)).href;
/**
 * The page requires Trusted Types for script URLs (its CSP): this policy creates exactly one, the
 * detector worker's, and the CSP allows no other policy.
 */
const { trustedTypes } = window as { trustedTypes?: { createPolicy(name: string, rules: { createScriptURL(url: string): string }): { createScriptURL(url: string): unknown } } };
const detectorPolicy = trustedTypes?.createPolicy('capture-detector', {
  createScriptURL: (url: string) => {
    if (url !== detectorUrl) throw new TypeError('not the detector worker');
    return url;
  },
});
const guidance = new Guidance(() => detectorPolicy?.createScriptURL(detectorUrl) ?? detectorUrl, (state) => guide(state));

const GUIDANCE_TEXT: Record<Exclude<GuidanceState, 'capture'>, TextKey> = {
  starting: 'guideStarting',
  off: 'guideOff',
  'no-face': 'guideNoFace',
  'several-faces': 'guideSeveralFaces',
  'cut-off': 'guideCutOff',
  sideways: 'guideSideways',
  'too-far': 'guideTooFar',
  'too-close': 'guideTooClose',
  'off-centre': 'guideOffCentre',
  'too-dark': 'guideTooDark',
  blurred: 'guideBlurred',
  steady: 'guideSteady',
};
/**
 * A state is announced once it has lasted `settledMs`, at least `everyMs` after the previous
 * announcement, and never twice in a row: a screen reader must finish one message before the
 * next, and a face moving in and out of the oval must not chatter. "Hold still" is said at once:
 * the photo follows within seconds. "Starting" is not said: the camera's start already was.
 */
const ANNOUNCE = { settledMs: 800, everyMs: 3000 };
const ANNOUNCE_STEADY = { settledMs: 0, everyMs: 1000 };
let guidanceAnnouncement: { timer?: ReturnType<typeof setTimeout>; said?: string; at: number } = { at: 0 };

/** Shows what to fix, offers the photo only when nothing is left, and takes it after a steady spell. */
function guide(state: GuidanceState): void {
  if (element('step-camera').hidden) return;
  if (state === 'capture') return void takePhoto();
  const message = text(GUIDANCE_TEXT[state]);
  ui.guidance.textContent = message;
  ui.takePhoto.disabled = state !== 'steady' && state !== 'off';
  clearTimeout(guidanceAnnouncement.timer);
  if (state === 'starting') return;
  const { settledMs, everyMs } = state === 'steady' ? ANNOUNCE_STEADY : ANNOUNCE;
  const sayLater = (delayMs: number) => {
    guidanceAnnouncement.timer = setTimeout(() => {
      if (element('step-camera').hidden || ui.guidance.textContent !== message || guidanceAnnouncement.said === message) return;
      const wait = guidanceAnnouncement.at + everyMs - Date.now();
      if (wait > 0) return sayLater(wait);
      guidanceAnnouncement = { said: message, at: Date.now() };
      announce(message);
    }, delayMs);
  };
  sayLater(settledMs);
}

/** Guidance follows the preview while the camera step shows. */
function watchCamera(): void {
  guidanceAnnouncement = { at: 0 };
  guide(guidance.state === 'off' ? 'off' : 'starting');
  guidance.watch(ui.video, ui.video.parentElement ?? ui.video);
}

/**
 * Shows one step and, when it was not showing yet, moves focus to its heading (so screen readers
 * read it); announces `message`.
 */
function show(step: Step, message?: string): void {
  if (step !== 'camera') guidance.pause();
  const shown = !element(`step-${step}`).hidden;
  for (const section of document.querySelectorAll<HTMLElement>('main > section')) section.hidden = section.id !== `step-${step}`;
  if (!shown) element(`${step}-heading`).focus();
  if (message !== undefined) announce(message);
}

function announce(message: string): void {
  // Emptied first, so the same message twice is announced twice.
  ui.announcer.textContent = '';
  requestAnimationFrame(() => {
    ui.announcer.textContent = message;
  });
}

function problem(key: TextKey, again?: () => void): void {
  stopCamera(stream);
  stream = undefined;
  ui.problemText.textContent = text(key);
  retry = again;
  ui.tryAgain.hidden = again === undefined;
  show('problem', text(key));
}

/** A refused session route, in the user's words; undefined when trying again may help. */
function refusal(error: unknown): TextKey | undefined {
  const status = error instanceof RequestFailed ? error.status : 0;
  if (status === 404) return 'problemInvalidLink';
  if (status === 409) return 'problemUsed';
  if (status === 410) return 'problemExpired';
  return undefined;
}

async function startCamera(deviceId?: string): Promise<void> {
  stopCamera(stream);
  ui.takePhoto.disabled = true;
  show('camera', text('cameraStarting'));
  try {
    stream = await openCamera(deviceId);
  } catch (error) {
    stream = undefined;
    useFile(error instanceof CameraUnavailable ? error.problem : 'unavailable');
    return;
  }
  ui.video.srcObject = stream;
  ui.video.classList.toggle('mirrored', facesUser(stream));
  await ui.video.play().catch(() => undefined);
  watchCamera();
  await offerCameras();
}

/** With more than one camera, a list to pick another (the front one is chosen first). */
async function offerCameras(): Promise<void> {
  const cameras = await listCameras().catch(() => []);
  ui.cameraChoice.hidden = cameras.length < 2;
  if (cameras.length < 2) return;
  const current = stream?.getVideoTracks()[0]?.getSettings().deviceId;
  ui.cameraSelect.replaceChildren(
    ...cameras.map((camera, index) => {
      const option = new Option(camera.label !== '' ? camera.label : text('cameraUnnamed', { n: index + 1 }), camera.deviceId);
      option.selected = camera.deviceId === current;
      return option;
    }),
  );
}

function useFile(reason?: CameraProblem): void {
  stopCamera(stream);
  stream = undefined;
  ui.fileReason.hidden = reason === undefined;
  if (reason !== undefined) ui.fileReason.textContent = text(reason === 'denied' ? 'fileCameraDenied' : 'fileCameraUnavailable');
  ui.fileError.hidden = true;
  ui.fileInput.value = '';
  show('file', reason === undefined ? undefined : ui.fileReason.textContent ?? undefined);
}

function review(image: Blob, source: 'camera' | 'file'): void {
  if (photo !== undefined) URL.revokeObjectURL(photo.url);
  photo = { image, source, url: URL.createObjectURL(image) };
  ui.reviewImage.src = photo.url;
  ui.reviewImage.classList.toggle('mirrored', source === 'camera' && ui.video.classList.contains('mirrored'));
  show('review');
}

async function takePhoto(): Promise<void> {
  if (ui.takePhoto.disabled && guidance.state !== 'capture') return;
  ui.takePhoto.disabled = true;
  guidance.pause();
  try {
    review(await captureFrame(ui.video), 'camera');
  } catch {
    useFile('unavailable');
  }
}

function retake(): void {
  if (photo?.source === 'camera' && stream !== undefined) {
    show('camera');
    watchCamera();
  } else if (photo?.source === 'camera') void startCamera();
  else useFile();
}

/** Asks for the session's presigned POST, fits the photo to its limit, and sends it. */
async function upload(): Promise<void> {
  if (photo === undefined) return;
  stopCamera(stream);
  stream = undefined;
  ui.uploadProgress.value = 0;
  ui.uploadText.textContent = '';
  show('upload', text('uploadStarted'));
  try {
    let form = await requestUpload(sessionId, photo.image.type);
    const image = await fitForUpload(photo.image, form.maxBytes);
    if (image === undefined) return problem('problemTooLarge', () => retake());
    // A re-encoded photo is a JPEG: the form names the type it may have.
    if (image.type !== photo.image.type) form = await requestUpload(sessionId, image.type);
    let announced = 0;
    await sendForm(form, image, (fraction) => {
      const percent = Math.round(fraction * 100);
      ui.uploadProgress.value = percent;
      ui.uploadText.textContent = text('uploadPercent', { percent });
      // Every quarter, not every event: a screen reader cannot keep up with more.
      if (percent >= announced + 25) {
        announced = percent - (percent % 25);
        announce(text('uploadPercent', { percent: announced }));
      }
    });
  } catch (error) {
    const refused = refusal(error);
    return refused === undefined ? problem('problemUpload', () => void upload()) : problem(refused);
  }
  await waitUntilDone();
}

/**
 * The session's progress, or undefined when it cannot be read right now; a refusal (an unknown
 * link, say) is shown at once and answered 'refused'.
 */
async function currentProgress(): Promise<Progress | 'refused' | undefined> {
  try {
    return await readProgress(sessionId);
  } catch (error) {
    const refused = refusal(error);
    if (refused === undefined) return undefined;
    problem(refused);
    return 'refused';
  }
}

/** Says the photo is being checked, and polls the session's progress until it is done (the page never learns the verdict). */
async function waitUntilDone(): Promise<void> {
  show('upload');
  ui.uploadProgress.removeAttribute('value');
  ui.uploadText.textContent = text('checking');
  announce(text('checking'));
  const giveUpAt = Date.now() + POLL_FOR_MS;
  for (let attempt = 0; ; attempt += 1) {
    const progress = await currentProgress();
    if (progress === 'refused') return;
    if (progress === 'DONE') return finish('doneText');
    if (progress === 'EXPIRED') return problem('problemExpired');
    // The photo is in; if checking takes long, the app will have the result anyway.
    if (Date.now() >= giveUpAt) return finish('doneSlow');
    await new Promise((resolve) => setTimeout(resolve, pollDelayMs(attempt)));
  }
}

function finish(key: 'doneText' | 'doneSlow'): void {
  ui.doneText.textContent = text(key);
  show('done', text(key));
}

async function start(): Promise<void> {
  if (!SESSION_ID.test(sessionId)) return problem('problemInvalidLink');
  // Not readable right now (undefined): let the user go on; the upload will tell.
  const progress = await currentProgress();
  if (progress === 'refused') return;
  if (progress === 'EXPIRED') return problem('problemExpired');
  if (progress === 'DONE') return finish('doneText');
  if (progress === 'CHECKING') return waitUntilDone();
  show('start');
  // Loaded while the user reads the start page: a separate, cached download that never delays the page.
  guidance.preload();
}

element('start-camera').addEventListener('click', () => void startCamera());
element('use-file').addEventListener('click', () => useFile());
element('use-camera').addEventListener('click', () => void startCamera());
ui.takePhoto.addEventListener('click', () => void takePhoto());
ui.cameraSelect.addEventListener('change', () => void startCamera(ui.cameraSelect.value));
element('retake').addEventListener('click', retake);
element('use-photo').addEventListener('click', () => void upload());
ui.tryAgain.addEventListener('click', () => retry?.());
ui.fileInput.addEventListener('change', () => void chooseFile());

/** A chosen file is reviewed only if this browser can show it (and so re-encode it if needed). */
async function chooseFile(): Promise<void> {
  const file = ui.fileInput.files?.[0];
  if (file === undefined) return;
  try {
    (await createImageBitmap(file)).close();
  } catch {
    ui.fileError.textContent = text('fileUnreadable');
    ui.fileError.hidden = false;
    announce(text('fileUnreadable'));
    return;
  }
  review(file, 'file');
}

// The camera light goes off as soon as the page is left.
addEventListener('pagehide', () => stopCamera(stream));

void start();
