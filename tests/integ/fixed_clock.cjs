// Preloaded (NODE_OPTIONS=--require) into the CDK's Node process by tests/integ/snapshots.py only: integ-tests
// salts every assertion with Date.now() so that it runs again on each deploy; a fixed Date.now() makes the
// snapshot the same on every run and machine. Deploys (make integ) run with the real clock.
Date.now = () => 1767225600000; // 2026-01-01T00:00:00Z
