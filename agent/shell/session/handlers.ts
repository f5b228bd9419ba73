/**
 * The Shell RPC (a bidirectional stream) and GetRecording over
 * ShellSessions. The first client message must be Open; the server answers
 * with the session id, then streams the terminal's output and, at the end,
 * the exit code. Refusals before the session exists (token, role, too many
 * sessions, no Open first) are gRPC statuses, so the CLI maps them to its
 * exit codes; later failures are `error` messages.
 */
import type { handleBidiStreamingCall, handleServerStreamingCall } from "@grpc/grpc-js";
import type { Principal } from "../../../shared/auth/principal.ts";
import { PactError } from "../../../shared/errors/mod.ts";
import type {
  RecordingChunk,
  RecordingRequest,
  ShellInput,
  ShellOutput,
} from "../../../shared/proto/gen/pact/shell/shell.ts";
import type { Handlers, RpcKit } from "../rpc_kit.ts";
import type { ShellSession, ShellSessions } from "./sessions.ts";

/** Bytes per RecordingChunk. */
const RECORDING_CHUNK_BYTES = 64 * 1024;

/** Shell and GetRecording. */
export function shellSessionHandlers(kit: RpcKit, sessions: ShellSessions): Handlers {
  const shell: handleBidiStreamingCall<ShellInput, ShellOutput> = (call) => {
    const principal: Promise<Principal> = kit.authenticate(call.metadata);
    principal.catch(() => {}); // Reported when the Open arrives.
    let session: ShellSession | undefined;
    let done = false;
    let chain: Promise<void> = Promise.resolve();
    const send = (output: ShellOutput["output"]) => {
      if (!done) call.write({ output });
    };
    const refuse = (err: unknown) => {
      if (done) return;
      done = true;
      call.emit("error", kit.fail("Shell", err));
    };
    const handle = async (message: ShellInput) => {
      const input = message.input;
      if (!session) {
        if (input?.$case !== "open") {
          throw new PactError(
            "INVALID_ARGUMENT",
            "The first message of a shell session must be Open (rows, cols, term)",
          );
        }
        const opened = await sessions.open(
          await principal,
          input.value,
          (data) => send({ $case: "stdout", value: data }),
        );
        session = opened;
        send({ $case: "sessionId", value: opened.id });
        opened.closed.then((code) => {
          send({ $case: "exitCode", value: code });
          done = true;
          call.end();
        });
        if (call.cancelled) void opened.close();
        return;
      }
      switch (input?.$case) {
        case "open":
          send({ $case: "error", value: "The session is already open" });
          return;
        case "stdin":
          await session.input(input.value);
          return;
        case "resize":
          session.resize(input.value.rows, input.value.cols);
          return;
        case "close":
          await session.close();
          return;
        default:
          return;
      }
    };
    call.on("data", (message: ShellInput) => {
      chain = chain.then(() => handle(message)).catch((err) => {
        if (session) send({ $case: "error", value: (err as Error).message });
        else refuse(err);
      });
    });
    // The client went away or half-closed: hang the session up.
    const hangUp = () => void chain.then(() => session?.close());
    call.on("end", hangUp);
    call.on("cancelled", () => {
      done = true;
      hangUp();
    });
  };

  const getRecording: handleServerStreamingCall<RecordingRequest, RecordingChunk> = (call) => {
    (async () => {
      const principal = await kit.authenticate(call.metadata);
      const path = await sessions.recordingPath(principal, call.request.sessionId);
      using file = await Deno.open(path);
      const buffer = new Uint8Array(RECORDING_CHUNK_BYTES);
      for (;;) {
        const n = await file.read(buffer);
        if (n === null || call.cancelled) break;
        if (!call.write({ data: buffer.slice(0, n) })) {
          await new Promise((resolve) => call.once("drain", resolve));
        }
      }
    })().then(
      () => call.end(),
      (err) => call.emit("error", kit.fail("GetRecording", err)),
    );
  };

  return { shell, getRecording };
}
