/**
 * The camera, microphone and speaker pickers, on the pre-join screen and in the room's device
 * panel. Each shows the device in use, else the one chosen, else the first; device names are
 * text.
 *
 * @example
 * ```tsx
 * import type { DeviceList } from "../client/media/devices.ts";
 *
 * function Pickers({ devices }: { devices: DeviceList }) {
 *   return (
 *     <DeviceSelects devices={devices} choice={{}} speakers onChoose={(key, id) => {}} />
 *   );
 * }
 * ```
 * @module
 */

import type { DeviceChoice, DeviceList, DeviceOption } from "../client/media/devices.ts";

/**
 * Props of {@linkcode DeviceSelects}.
 *
 * @example
 * ```ts
 * const props: DeviceSelectsProps = {
 *   devices: { cameras: [], microphones: [], speakers: [], named: false },
 *   choice: { cameraId: "c1" },
 *   speakers: false,
 *   onChoose: () => {},
 * };
 * ```
 */
export interface DeviceSelectsProps {
  devices: DeviceList;
  /** What the person chose. */
  choice: DeviceChoice;
  /** The devices in use now, where known (they win over the choice). */
  inUse?: DeviceChoice;
  /** Whether the browser can play on a chosen speaker (else no speaker picker). */
  speakers: boolean;
  onChoose(key: keyof DeviceChoice, id: string): void;
}

const PICKERS: { key: keyof DeviceChoice; list: keyof DeviceList; label: string }[] = [
  { key: "cameraId", list: "cameras", label: "Camera" },
  { key: "microphoneId", list: "microphones", label: "Microphone" },
  { key: "speakerId", list: "speakers", label: "Speaker" },
];

const TEST_IDS: Record<keyof DeviceChoice, string> = {
  cameraId: "select-camera",
  microphoneId: "select-microphone",
  speakerId: "select-speaker",
};

/**
 * One labelled `<select>` per kind of device the browser lists.
 *
 * @example
 * ```tsx
 * <DeviceSelects
 *   devices={{ cameras: [{ id: "c1", label: "Front" }], microphones: [], speakers: [],
 *     named: true }}
 *   choice={{}}
 *   speakers={false}
 *   onChoose={(key, id) => console.log(key, id)}
 * />;
 * ```
 */
export function DeviceSelects({ devices, choice, inUse, speakers, onChoose }: DeviceSelectsProps) {
  return (
    <div class="grid gap-2" data-testid="device-selects">
      {PICKERS.map(({ key, list, label }) => {
        const options = devices[list] as DeviceOption[];
        if (options.length === 0 || (key === "speakerId" && !speakers)) return null;
        const wanted = inUse?.[key] || choice[key];
        const value = options.some((o) => o.id === wanted) ? wanted : options[0].id;
        return (
          <label class="block" key={key}>
            <span class="text-sm font-medium text-slate-600">{label}</span>
            <select
              class="w-full rounded-lg border border-slate-300 bg-white px-3 py-2 focus:outline-none focus:ring-2 focus:ring-emerald-500"
              data-testid={TEST_IDS[key]}
              value={value}
              onChange={(e) => onChoose(key, e.currentTarget.value)}
            >
              {options.map((o) => <option key={o.id} value={o.id}>{o.label}</option>)}
            </select>
          </label>
        );
      })}
    </div>
  );
}
