/**
 * Inline SVG icons for the media controls and tiles (stroke style, 24x24, currentColor).
 *
 * @example
 * ```tsx
 * const micOn = false;
 * <MicIcon off={!micOn} class="h-5 w-5" />;
 * ```
 * @module
 */

interface IconProps {
  class?: string;
  /** Draws the icon struck through. */
  off?: boolean;
}

function Svg(
  { class: cls = "h-5 w-5", children }: { class?: string; children: preact.ComponentChildren },
) {
  return (
    <svg
      class={cls}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      stroke-width={2}
      stroke-linecap="round"
      stroke-linejoin="round"
      aria-hidden="true"
    >
      {children}
    </svg>
  );
}

const Strike = () => <line x1="3" y1="3" x2="21" y2="21" />;

/**
 * A microphone.
 *
 * @example
 * ```tsx
 * <MicIcon off />
 * ```
 */
export function MicIcon({ class: cls, off }: IconProps) {
  return (
    <Svg class={cls}>
      <rect x="9" y="3" width="6" height="11" rx="3" />
      <path d="M5 11a7 7 0 0 0 14 0M12 18v3" />
      {off && <Strike />}
    </Svg>
  );
}

/**
 * A video camera.
 *
 * @example
 * ```tsx
 * const cameraOn = true;
 * <CameraIcon off={!cameraOn} />;
 * ```
 */
export function CameraIcon({ class: cls, off }: IconProps) {
  return (
    <Svg class={cls}>
      <rect x="3" y="6" width="13" height="12" rx="2" />
      <path d="M16 10l5-3v10l-5-3z" />
      {off && <Strike />}
    </Svg>
  );
}

/**
 * Bars, for statistics.
 *
 * @example
 * ```tsx
 * <StatsIcon />
 * ```
 */
export function StatsIcon({ class: cls }: IconProps) {
  return (
    <Svg class={cls}>
      <path d="M4 20V10M10 20V4M16 20v-7M22 20H2" />
    </Svg>
  );
}

/**
 * Four squares (tile layout) or one large and three small (speaker layout).
 *
 * @example
 * ```tsx
 * <LayoutIcon speaker />
 * ```
 */
export function LayoutIcon({ class: cls, speaker }: IconProps & { speaker?: boolean }) {
  return (
    <Svg class={cls}>
      {speaker
        ? <path d="M3 4h18v11H3zM3 18h4v2H3zM10 18h4v2h-4zM17 18h4v2h-4z" />
        : <path d="M3 3h8v8H3zM13 3h8v8h-8zM3 13h8v8H3zM13 13h8v8h-8z" />}
    </Svg>
  );
}

/**
 * An open hand, for raising it.
 *
 * @example
 * ```tsx
 * <HandIcon />
 * ```
 */
export function HandIcon({ class: cls }: IconProps) {
  return (
    <Svg class={cls}>
      <path d="M18 11V6a2 2 0 0 0-4 0v5M14 10V4a2 2 0 0 0-4 0v6M10 10.5V6a2 2 0 0 0-4 0v8" />
      <path d="M18 8a2 2 0 1 1 4 0v6a8 8 0 0 1-8 8h-2c-2.8 0-4.5-.86-5.99-2.34l-3.6-3.6a2 2 0 0 1 2.83-2.82L7 15" />
    </Svg>
  );
}

/**
 * A smiling face, for reactions.
 *
 * @example
 * ```tsx
 * <SmileIcon />
 * ```
 */
export function SmileIcon({ class: cls }: IconProps) {
  return (
    <Svg class={cls}>
      <circle cx="12" cy="12" r="10" />
      <path d="M8 14s1.5 2 4 2 4-2 4-2M9 9h.01M15 9h.01" />
    </Svg>
  );
}

/**
 * Sliders, for choosing the camera, microphone and speaker.
 *
 * @example
 * ```tsx
 * <DevicesIcon />
 * ```
 */
export function DevicesIcon({ class: cls }: IconProps) {
  return (
    <Svg class={cls}>
      <path d="M4 6h10M18 6h2M4 12h4M12 12h8M4 18h12M20 18h0" />
      <circle cx="16" cy="6" r="2" />
      <circle cx="10" cy="12" r="2" />
      <circle cx="18" cy="18" r="2" />
    </Svg>
  );
}

/**
 * A door with an arrow, for leaving.
 *
 * @example
 * ```tsx
 * <LeaveIcon />
 * ```
 */
export function LeaveIcon({ class: cls }: IconProps) {
  return (
    <Svg class={cls}>
      <path d="M10 17l5-5-5-5M15 12H3M14 3h5a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2h-5" />
    </Svg>
  );
}

/**
 * A monitor with an arrow: sharing a screen.
 *
 * @example
 * ```tsx
 * <ScreenIcon class="h-5 w-5" />;
 * ```
 */
export function ScreenIcon({ class: cls }: IconProps) {
  return (
    <Svg class={cls}>
      <rect x="3" y="4" width="18" height="13" rx="2" />
      <path d="M8 21h8M12 17v4M12 14V8M9 11l3-3 3 3" />
    </Svg>
  );
}

/**
 * A recording dot in a ring: filled while recording.
 *
 * @example
 * ```tsx
 * <RecordIcon on />;
 * ```
 */
export function RecordIcon({ class: cls, on }: IconProps & { on?: boolean }) {
  return (
    <Svg class={cls}>
      <circle cx="12" cy="12" r="9" />
      <circle cx="12" cy="12" r="4" fill={on ? "#dc2626" : "currentColor"} stroke="none" />
    </Svg>
  );
}
