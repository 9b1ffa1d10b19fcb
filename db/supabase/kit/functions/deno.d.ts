// The part of Deno's runtime API the Edge Functions use, so `tsc` checks them without Deno
// installed. Signatures as in Deno's lib.deno.ns.d.ts (Deno 1.x/2.x).
declare namespace Deno {
  interface Env {
    get(key: string): string | undefined
  }
  const env: Env
  function serve(handler: (request: Request) => Response | Promise<Response>): unknown
}
