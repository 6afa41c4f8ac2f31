#pragma once
// Ports on this machine's loopback for what firedrill publishes or listens on.

namespace firedrill {

/// A TCP port on 127.0.0.1 that was free a moment ago, below the kernel's ephemeral range (so
/// no listener on port 0 or outgoing connection takes it before it is bound); the caller retries
/// if it is taken by the time something binds it. Throws EnvironmentError when no socket can be bound.
int free_loopback_port();

}  // namespace firedrill
