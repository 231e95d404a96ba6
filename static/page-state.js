// gama-vr-relay admin page: what the page knows of the relay, read by every part that acts on it:
// whether the link is up, whether it waits for a token, and the last state document received.

// The page's link to the relay (live.js), whether it waits for a token, and the last state it got.
export const live = {
  link: 'connecting',
  get up() {
    return this.link === 'live';
  },
  waitingForToken: false,
  why: null, // why the token form shows: missing, refused, invalid
  last: null, // the last state document received
  lastAt: null, // when it was received (the page's clock)
};
