#pragma once
// Ports on this machine's loopback for what firedrill publishes or listens on.

namespace firedrill {

/// Which share of the ports below the kernel's ephemeral range a port is drawn from. The engine
/// binds a published port the moment the container starts, and the Docker runtime retries one
/// that was taken; a local program (the process runtime's) is given its port seconds before it
/// binds it (initdb comes first), with nothing to retry it. Drawing the two from halves of their
/// own, a container published by a drill beside it can never take a local program's port in
/// between.
enum class PortShare { published, local_programs };

/// A TCP port on 127.0.0.1 that was free a moment ago, below the kernel's ephemeral range (so
/// no listener on port 0 or outgoing connection takes it before it is bound), from `share`; the
/// caller retries if it is taken by the time something binds it. Throws EnvironmentError when no
/// socket can be bound.
int free_loopback_port(PortShare share = PortShare::published);

}  // namespace firedrill
