import ArgumentParser
import BreakerServer
import Foundation
import HighwayBreaker
import Logging

#if canImport(Glibc)
import Glibc
#endif

struct FakeDatabaseDown: Error {}
