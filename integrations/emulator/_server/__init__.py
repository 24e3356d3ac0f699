"""The HTTP server and its request path: `Emulator` (server) runs the app (app), whose gateway logs,
faults, authenticates and limits each request before the cassette layer and the routes see it."""
