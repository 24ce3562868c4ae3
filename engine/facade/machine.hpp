// What this machine offers (cores, memory available now, free disk under a path), read from the
// system so resource checks compare a request with the real machine instead of a fixed guess.
#pragma once

#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

namespace bidsim {

// Online CPU cores (at least 1).
inline int machine_cores() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

// Bytes of memory available to a new allocation now: MemAvailable of /proc/meminfo (free memory plus
// reclaimable caches), else free physical pages. Under a cgroup limit the smaller limit wins.
inline std::uint64_t machine_available_memory_bytes() {
  std::uint64_t available = 0;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    std::uint64_t kib = 0;
    if (fields >> kib) available = kib * 1024;
    break;
  }
  if (available == 0) {
    const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) available = static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
  }
  std::ifstream limit_file("/sys/fs/cgroup/memory.max");  // cgroup v2; "max" when unlimited
  std::ifstream usage_file("/sys/fs/cgroup/memory.current");
  std::uint64_t limit = 0, usage = 0;
  if (limit_file >> limit && usage_file >> usage && limit > usage && (available == 0 || limit - usage < available))
    available = limit - usage;
  return available;
}

// Bytes free for an unprivileged writer on the file system holding `path`; 0 when it cannot be read.
inline std::uint64_t free_disk_bytes(const std::string& path) {
  struct statvfs fs {};
  if (statvfs(path.c_str(), &fs) != 0) return 0;
  return static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
}

}  // namespace bidsim
