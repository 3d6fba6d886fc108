#include "host/hosted_watch.h"

namespace lookout::host {

Result<HostedWatch> start_hosted(WatchOptions options, const SubscribeOptions& subscription,
                                 std::vector<int> stop_signals) {
  options.primary_consumer = false;
  auto created = Watcher::create(std::move(options));
  if (!created) return created.error();
  HostedWatch hw;
  hw.watcher = std::move(*created);
  // Before start(): a subscription asking for the existing entries gets them at ready.
  hw.events = hw.watcher->subscribe(subscription);
  hw.host = std::make_unique<Host>(*hw.watcher, std::move(stop_signals));
  if (auto started = hw.host->start(); !started) return started.error();
  return hw;
}

}  // namespace lookout::host
