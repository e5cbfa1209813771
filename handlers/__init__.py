"""HTTP and WebSocket handlers: parse input, take the acting user from the token, call one service."""
