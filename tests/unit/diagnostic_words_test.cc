// The engine reports causes as data and names no CLI flag; cmd/lookout/diagnostic_words.h
// puts the flag back for `lookout watch`.
#include "diagnostic_words.h"

#include <gtest/gtest.h>

#include "core/fs_kind.h"

namespace lookout::cmd {
namespace {

TEST(DiagnosticWords, ForcedBackendsNameTheFlagThatForcedThem) {
  EXPECT_EQ(
      diagnostic_words(Error{ErrorCode::ok, 0, "/r", "poll for /r: asked for", Cause::poll_asked}),
      "poll for /r: asked for with --backend poll");
  EXPECT_EQ(diagnostic_words(
                Error{ErrorCode::ok, 0, "/r", "fanotify for /r: asked for", Cause::fanotify_asked}),
            "fanotify for /r: asked for with --backend fanotify");
  std::string overlay =
      diagnostic_words(Error{ErrorCode::ok, 0, "/m", "poll for /m: overlay, polled as asked: ...",
                             Cause::overlay_poll_asked});
  EXPECT_EQ(overlay.rfind("poll for /m: overlay with --poll-overlay: ", 0), 0u) << overlay;
}

TEST(DiagnosticWords, UnusableFanotifySaysWhichBackendToUseInstead) {
  Error e{ErrorCode::unsupported, EOPNOTSUPP, "/o", "cannot watch /o with fanotify: ...",
          Cause::fanotify_unusable};
  EXPECT_EQ(diagnostic_words(e),
            "cannot watch /o with fanotify: ...; use --backend auto or inotify");
}

TEST(DiagnosticWords, OtherMessagesAreUnchanged) {
  Error e{ErrorCode::watch_limit, ENOSPC, "/a", "inotify_add_watch /a: No space left on device"};
  EXPECT_EQ(diagnostic_words(e), e.message);
}

// The library's own texts: no CLI flag in them.
TEST(DiagnosticWords, FilesystemReasonsNameNoFlag) {
  for (std::uint64_t magic : {fs_magic::kExt4, fs_magic::kNfs, fs_magic::kFuse, fs_magic::kOverlay,
                              fs_magic::kProc, std::uint64_t{0x12345678}}) {
    FsKind k = classify_fs(magic);
    EXPECT_EQ(k.reason.find("--"), std::string::npos) << k.reason;
  }
  EXPECT_TRUE(classify_fs(0x12345678).is_unknown);
  EXPECT_FALSE(classify_fs(fs_magic::kExt4).is_unknown);
}

}  // namespace
}  // namespace lookout::cmd
