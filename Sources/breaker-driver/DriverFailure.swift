import ArgumentParser
import HighwayBreaker
import Logging

#if canImport(Glibc)
import Glibc
#endif

struct DriverFailure: Error {}
