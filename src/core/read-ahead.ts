/** Reads an async iterable one item ahead, so producing the next item overlaps consuming this one. */

/**
 * Yields what `source` yields, asking it for the next item as soon as the current one is handed out: the
 * stores work on the next batch while the caller works on this one. Holds at most one item beyond the
 * caller's. An error from the source surfaces when the caller reaches that item; stopping early waits for
 * the item in flight and closes the source.
 */
export async function* readAhead<T>(source: AsyncIterable<T>): AsyncIterable<T> {
  const it = source[Symbol.asyncIterator]();
  let next = it.next();
  // Handled here so a rejection while the caller is busy is not reported as unhandled; awaited below.
  next.catch(() => undefined);
  let finished = false;
  try {
    for (;;) {
      const r = await next;
      if (r.done) {
        finished = true;
        return;
      }
      next = it.next();
      next.catch(() => undefined);
      yield r.value;
    }
  } finally {
    if (!finished) {
      const pending = await next.then(
        (r) => !r.done,
        () => false,
      );
      if (pending) await it.return?.();
    }
  }
}
