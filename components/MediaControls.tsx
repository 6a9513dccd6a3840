/**
 * Buttons of the room's control bar that switch a device or a view on and off, with the
 * device's state: on, off, starting, or failed (with the reason as a tooltip).
 *
 * @example
 * ```tsx
 * import { MicIcon } from "./icons.tsx";
 *
 * function MicButton({ micOn, toggleMic }: { micOn: boolean; toggleMic: () => void }) {
 *   return (
 *     <ToggleButton testId="toggle-mic" label="Microphone" on={micOn} onClick={toggleMic}
 *       icon={<MicIcon off={!micOn} />} />
 *   );
 * }
 * ```
 * @module
 */

import type { ComponentChildren } from "preact";

/**
 * Props of a {@linkcode ToggleButton}.
 *
 * @example
 * ```ts
 * const props: ToggleButtonProps = { testId: "toggle-camera", label: "Camera", on: false,
 *   onClick: () => {}, icon: null };
 * ```
 */
export interface ToggleButtonProps {
  testId: string;
  /** What it switches, for screen readers and the tooltip. */
  label: string;
  on: boolean;
  /** Shown while the device opens (or the action is under way). */
  busy?: boolean;
  /** What the tooltip says meanwhile (default "starting…"). */
  busyText?: string;
  /** Why the device failed, if it did. */
  error?: string | null;
  /** Off is the alarming state for devices (red); false for views like stats. */
  offIsAlert?: boolean;
  icon: ComponentChildren;
  onClick(): void;
}

/**
 * A square toggle with `aria-pressed`.
 *
 * @example
 * ```tsx
 * import { StatsIcon } from "./icons.tsx";
 *
 * <ToggleButton testId="toggle-stats" label="Statistics" on={false} offIsAlert={false}
 *   icon={<StatsIcon />} onClick={() => {}} />;
 * ```
 */
export function ToggleButton(
  {
    testId,
    label,
    on,
    busy,
    busyText = "starting…",
    error,
    offIsAlert = true,
    icon,
    onClick,
  }: ToggleButtonProps,
) {
  const tone = error
    ? "bg-amber-500 text-white hover:bg-amber-600"
    : on
    ? "bg-slate-200 text-slate-800 hover:bg-slate-300"
    : offIsAlert
    ? "bg-red-600 text-white hover:bg-red-700"
    : "bg-white text-slate-700 ring-1 ring-slate-300 hover:bg-slate-100";
  const state = error ? error : `${label} ${on ? "on" : "off"}${busy ? ` (${busyText})` : ""}`;
  return (
    <button
      type="button"
      class={`relative h-11 w-11 rounded-full flex items-center justify-center transition-colors ${tone} ${
        busy ? "animate-pulse" : ""
      }`}
      aria-pressed={on}
      aria-label={label}
      title={state}
      data-testid={testId}
      data-error={error ? "true" : undefined}
      onClick={onClick}
    >
      {icon}
      {error && (
        <span class="absolute -top-1 -right-1 h-4 w-4 rounded-full bg-red-600 text-[10px] font-bold leading-4 text-white">
          !
        </span>
      )}
    </button>
  );
}
