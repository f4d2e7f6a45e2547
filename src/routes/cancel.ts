import type { FastifyReply } from 'fastify';

/**
 * A controller aborted when the client goes away before its answer is written, so queued or
 * running work for it is cancelled. Call `release` when the work is done.
 */
export function cancelOnDisconnect(reply: FastifyReply): { cancel: AbortController; release: () => void } {
  const cancel = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) cancel.abort();
  };
  reply.raw.once('close', onClose);
  return { cancel, release: () => reply.raw.off('close', onClose) };
}
