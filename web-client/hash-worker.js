// The SHA-256 of a Blob, off the page's main thread: Chromium's SubtleCrypto
// digest holds the thread it runs on (about 2.5 ms per MiB), which would
// freeze the call for the length of a large file's hash. Used by
// exchange.js: gets { job, blob }, answers { job, digest } (an ArrayBuffer
// of 32 bytes) or { job, error }.
self.onmessage = async (e) => {
  const { job, blob } = e.data;
  try {
    const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
    self.postMessage({ job, digest }, [digest]);
  } catch (err) {
    self.postMessage({ job, error: String(err?.message ?? err) });
  }
};
