import { isRvssError } from "@rvss/core";

/** The code and message of the RvssError `p` rejects with; anything else (or no rejection) fails the test. */
export async function rvssFailure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isRvssError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error("expected a failure");
}
