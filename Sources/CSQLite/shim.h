#ifndef C_SQLITE_SHIM_H
#define C_SQLITE_SHIM_H
// The system SQLite (Debian: libsqlite3-dev). `import SQLite3` does not exist on Linux.
#include <sqlite3.h>
#endif
