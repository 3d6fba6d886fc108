// HostedWatch: how every front end begins. A Watcher (the primary consumer off: the front end
// reads its own subscription), one subscription, and the Host that runs the watcher's loop
// on its own thread and reads the stop signals, started: the watches are live when it
// returns. Members are destroyed host first (the loop stops), then the subscription, then
// the watcher.
#pragma once

#include <memory>
#include <vector>

#include "host/host.h"
#include "lookout/result.h"
#include "lookout/subscription.h"
#include "lookout/watcher.h"

namespace lookout::host {

struct HostedWatch {
  std::unique_ptr<Watcher> watcher;
  std::unique_ptr<Subscription> events;
  std::unique_ptr<Host> host;
};

// Creates the watcher from `options`, subscribes with `subscription` and starts it under a
// Host blocking `stop_signals`. Fails with the watcher's error, or with code `interrupted`
// when a stop signal came during the start-up crawl (a front end then exits quietly).
// Call on the main thread before it starts any other thread (see Host).
Result<HostedWatch> start_hosted(WatchOptions options, const SubscribeOptions& subscription,
                                 std::vector<int> stop_signals);

}  // namespace lookout::host
