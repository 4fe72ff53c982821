"""The event loop: one epoll, a heap of deadlines and an injected clock.

Owns the supervisor's only wait (epoll_wait, or the probe engine's wait in
its place), deadlines with lazy cancellation and FIFO lanes, signals through
a wakeup fd, and the clocks (the monotonic one and the FakeClock of the
tests). Nothing here knows of pods or containers.

May import: minipod.api only (nothing of it today), and the standard library.
"""
