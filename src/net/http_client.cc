#include "net/http_client.h"

#include <dlfcn.h>
#include <unistd.h>

#include <mutex>

#include "net/http_module_abi.h"

#ifndef LOOKOUT_MODULE_DIR
#define LOOKOUT_MODULE_DIR "/usr/local/lib/lookout"
#endif

namespace lookout::net {

namespace {

struct Module {
  LookoutHttpPostFn post = nullptr;
  std::string error;  // why it could not be loaded
};

std::string exe_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string p(buf, static_cast<std::size_t>(n));
  auto slash = p.rfind('/');
  return slash == std::string::npos ? std::string() : p.substr(0, slash);
}

Module load() {
  Module m;
  std::string tried;
  for (const std::string& dir : {exe_dir(), std::string(LOOKOUT_MODULE_DIR)}) {
    if (dir.empty()) continue;
    const std::string path = dir + "/" + kLookoutHttpModuleName;
    // RTLD_LOCAL: cpp-httplib's and OpenSSL's symbols stay out of the binary's namespace.
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* why = dlerror();
      tried += (tried.empty() ? "" : "; ") + std::string(why ? why : path.c_str());
      continue;
    }
    if (auto fn = reinterpret_cast<LookoutHttpPostFn>(dlsym(h, kLookoutHttpPostSymbol))) {
      m.post = fn;
      return m;
    }
    tried += (tried.empty() ? "" : "; ") + path + ": no " + kLookoutHttpPostSymbol +
             " (a module from another version of lookout)";
    dlclose(h);
  }
  m.error = std::string("the HTTP module ") + kLookoutHttpModuleName + " could not be loaded (" +
            tried + "); install it beside the lookout binary or in " LOOKOUT_MODULE_DIR +
            " (cmake --install does both; it needs libcpp-httplib)";
  return m;
}

const Module& module() {
  static std::once_flag once;
  static Module m;
  std::call_once(once, [] { m = load(); });
  return m;
}

}  // namespace

Result<void> load_http_module() {
  const Module& m = module();
  if (m.post) return {};
  return Error{ErrorCode::not_found, 0, kLookoutHttpModuleName, m.error};
}

HttpOutcome http_post(const std::string& base, const std::string& path, const std::string& body,
                      const std::string& content_type, std::int64_t timeout_ms) {
  const Module& m = module();
  HttpOutcome out;
  if (!m.post) {
    out.error = m.error;
    return out;
  }
  char error[512] = "";
  out.status = m.post(base.c_str(), path.c_str(), body.data(), body.size(), content_type.c_str(),
                      static_cast<long long>(timeout_ms), error, sizeof error);
  if (out.status == 0) out.error = error[0] ? error : "no response";
  return out;
}

}  // namespace lookout::net
