/** HRESULTs of MS-FSRVP (section 2.2.4) and the Windows codes the protocol returns. Unsigned 32-bit. */
export const HRESULT = {
  ZERO: 0x00000000,
  FSRVP_E_BAD_STATE: 0x80042301,
  FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS: 0x80042316,
  FSRVP_E_NOT_SUPPORTED: 0x8004230c,
  FSRVP_E_WAIT_TIMEOUT: 0x00000102,
  FSRVP_E_WAIT_FAILED: 0xffffffff,
  FSRVP_E_OBJECT_ALREADY_EXISTS: 0x8004230d,
  FSRVP_E_OBJECT_NOT_FOUND: 0x80042308,
  FSRVP_E_UNSUPPORTED_CONTEXT: 0x8004231b,
  FSRVP_E_SHADOWCOPYSET_ID_MISMATCH: 0x80042501,
  FSSAGENT_E_TIMEOUT: 0x80042500,
  E_ACCESSDENIED: 0x80070005,
  E_INVALIDARG: 0x80070057,
  E_OUTOFMEMORY: 0x8007000e,
  E_FAIL: 0x80004005,
} as const;

export type HResultName = keyof typeof HRESULT;

const names = new Map<number, HResultName>(Object.entries(HRESULT).map(([k, v]) => [v, k as HResultName]));

/** "FSRVP_E_BAD_STATE (0x80042301)", or the hex value alone for codes outside the table. */
export function describeHResult(hr: number): string {
  const hex = "0x" + (hr >>> 0).toString(16).toUpperCase().padStart(8, "0");
  const name = names.get(hr >>> 0);
  return name ? `${name} (${hex})` : hex;
}
