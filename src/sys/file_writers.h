// Whether some process has a file open for writing, asked the kernel's way: a read lease
// (fcntl F_SETLEASE) can be had only when nobody has the file open for writing. Taken and
// released at once; a writer opening the file in between waits microseconds, and the lease
// break notice (SIGIO) is ignored by host::Host. Used by ingest (is a dropped file complete?)
// and sync (is a file found in a new directory, whose close_write came before its watch,
// still being written?). Thread-safe.
#pragma once

#include <string>

namespace lookout::sys {

enum class Writers { none, some, unknown };

// `unknown` where leases are not allowed (not the owner and no CAP_LEASE, some filesystems);
// `none` for what is not a regular file (never opened: a device may act on open).
Writers writers_of(const std::string& path);

}  // namespace lookout::sys
