#include "core/handle_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

namespace lookout::core {
namespace {

// A fanotify-like key: 8 bytes of fsid, 4 of handle type, then the handle.
std::string key(int fs, std::uint32_t ino, std::size_t handle_bytes = 12) {
  std::string k(8, static_cast<char>('a' + fs));
  k.append(4, '\1');
  std::string handle(handle_bytes, '\0');
  for (std::size_t i = 0; i < handle_bytes && i < 4; ++i) handle[i] = static_cast<char>(ino >> (8 * i));
  return k + handle;
}

std::uint64_t same_hash(std::string_view) { return 42; }

TEST(HandleIndex, FindsByKeyAndByNode) {
  HandleIndex h(12);
  EXPECT_FALSE(h.holder(key(0, 1)));
  EXPECT_FALSE(h.has_key(7));
  h.assign(7, key(0, 1), true);
  EXPECT_EQ(h.holder(key(0, 1)), 7u);
  EXPECT_TRUE(h.has_key(7, key(0, 1)));
  EXPECT_FALSE(h.has_key(7, key(0, 2)));
  EXPECT_EQ(h.key_of(7), key(0, 1));
  EXPECT_FALSE(h.holder(key(0, 2)));
  EXPECT_FALSE(h.holder(key(1, 1)));  // same handle, another filesystem
  EXPECT_EQ(h.node_count(), 1u);
}

TEST(HandleIndex, EraseThenInsertAgain) {
  HandleIndex h(12);
  h.assign(7, key(0, 1), true);
  h.erase(7);
  EXPECT_FALSE(h.holder(key(0, 1)));
  EXPECT_FALSE(h.key_of(7));
  h.assign(7, key(0, 1), true);
  EXPECT_EQ(h.holder(key(0, 1)), 7u);
  h.assign(8, key(0, 2), true);
  h.erase(7);
  h.assign(9, key(0, 1), true);
  EXPECT_EQ(h.holder(key(0, 1)), 9u);
  EXPECT_EQ(h.holder(key(0, 2)), 8u);
}

TEST(HandleIndex, ANewKeyReleasesTheOldOne) {
  HandleIndex h(12);
  h.assign(7, key(0, 1), true);
  h.assign(7, key(0, 2), true);
  EXPECT_FALSE(h.holder(key(0, 1)));
  EXPECT_EQ(h.holder(key(0, 2)), 7u);
  EXPECT_EQ(h.node_count(), 1u);
}

TEST(HandleIndex, TwoNodesOneKeyOneHolder) {
  HandleIndex h(12);
  h.assign(7, key(0, 1), true);
  h.assign(8, key(0, 1), false);  // a second node for the directory: not the holder
  EXPECT_EQ(h.holder(key(0, 1)), 7u);
  EXPECT_TRUE(h.has_key(8, key(0, 1)));
  h.assign(9, key(0, 1), true);  // takes it over; 7 keeps it as its key
  EXPECT_EQ(h.holder(key(0, 1)), 9u);
  EXPECT_TRUE(h.has_key(7, key(0, 1)));
  h.erase(9);
  EXPECT_FALSE(h.holder(key(0, 1)));
  h.hold(8);
  EXPECT_EQ(h.holder(key(0, 1)), 8u);
  h.release(key(0, 1));
  EXPECT_FALSE(h.holder(key(0, 1)));
  EXPECT_TRUE(h.has_key(8, key(0, 1)));
}

TEST(HandleIndex, OutsideMarks) {
  HandleIndex h(12);
  h.mark_outside(key(0, 1));
  h.mark_outside(key(0, 1));
  EXPECT_EQ(h.holder(key(0, 1)), kNoNode);
  EXPECT_EQ(h.outside_count(), 1u);
  h.assign(7, key(0, 1), true);  // moved in
  EXPECT_EQ(h.holder(key(0, 1)), 7u);
  EXPECT_EQ(h.outside_count(), 0u);
  h.mark_outside(key(0, 1));  // moved out: 7 keeps the key, holds nothing
  EXPECT_EQ(h.holder(key(0, 1)), kNoNode);
  EXPECT_TRUE(h.has_key(7, key(0, 1)));
  for (std::uint32_t i = 2; i < 5000; ++i) h.mark_outside(key(0, i));
  h.assign(8, key(0, 9999), true);
  EXPECT_EQ(h.outside_count(), 4999u);
  const std::size_t before = h.memory_bytes();
  h.forget_outside();
  EXPECT_EQ(h.outside_count(), 0u);
  EXPECT_FALSE(h.holder(key(0, 1)));
  EXPECT_FALSE(h.holder(key(0, 3000)));
  EXPECT_EQ(h.holder(key(0, 9999)), 8u);
  EXPECT_TRUE(h.has_key(7, key(0, 1)));
  EXPECT_LT(h.memory_bytes() * 10, before);  // given back
}

TEST(HandleIndex, GrowsAndStaysSmall) {
  HandleIndex h(12);
  constexpr std::uint32_t kDirs = 100000;
  for (std::uint32_t i = 0; i < kDirs; ++i) h.assign(i * 11, key(0, i), true);
  for (std::uint32_t i = 0; i < kDirs; ++i) {
    ASSERT_EQ(h.holder(key(0, i)), i * 11) << i;
    ASSERT_TRUE(h.has_key(i * 11, key(0, i))) << i;
  }
  EXPECT_FALSE(h.holder(key(0, kDirs)));
  EXPECT_FALSE(h.has_key(5));
  // The target of issue 16: some 50 bytes a directory, a tmpfs key's 24 bytes included.
  EXPECT_LE(h.memory_bytes(), kDirs * 50);
}

TEST(HandleIndex, CompactsWhenHolesOutweighWhatIsLive) {
  HandleIndex h(12);
  constexpr std::uint32_t kDirs = 50000;
  for (std::uint32_t i = 0; i < kDirs; ++i) h.assign(i, key(0, i), true);
  const std::size_t full = h.memory_bytes();
  for (std::uint32_t i = 0; i < kDirs; ++i) {
    if (i % 10 != 0) h.erase(i);
  }
  EXPECT_LT(h.memory_bytes() * 4, full);
  for (std::uint32_t i = 0; i < kDirs; ++i) {
    if (i % 10 == 0) {
      ASSERT_EQ(h.holder(key(0, i)), i) << i;
      ASSERT_EQ(h.key_of(i), key(0, i)) << i;
    } else {
      ASSERT_FALSE(h.holder(key(0, i))) << i;
      ASSERT_FALSE(h.has_key(i)) << i;
    }
  }
  // Keys changing in place leave dead bytes: compacted too, nothing lost.
  for (int round = 0; round < 20; ++round) {
    for (std::uint32_t i = 0; i < kDirs; i += 10) h.assign(i, key(round % 2, i, 40), true);
  }
  EXPECT_LT(h.memory_bytes(), full);
  for (std::uint32_t i = 0; i < kDirs; i += 10) ASSERT_EQ(h.holder(key(1, i, 40)), i) << i;
}

TEST(HandleIndex, KeysOfEveryLengthAndSharedBeginnings) {
  HandleIndex h(12);
  // Shorter than the prefix, exactly the prefix, each a prefix of the next, and long.
  const std::string base = key(0, 77, 100);
  for (std::size_t len = 0; len <= base.size(); ++len) h.assign(1000 + len, base.substr(0, len), true);
  for (std::size_t len = 0; len <= base.size(); ++len) {
    ASSERT_EQ(h.holder(base.substr(0, len)), 1000 + len) << len;
    ASSERT_EQ(h.key_of(1000 + len), base.substr(0, len)) << len;
  }
  // Bytes that are not text, NULs included.
  std::string odd("\0\xff\0", 3);
  h.assign(5, odd, true);
  EXPECT_EQ(h.holder(odd), 5u);
  EXPECT_FALSE(h.holder(std::string("\0\xff", 2)));
}

TEST(HandleIndex, MoreFilesystemsThanPrefixSlots) {
  HandleIndex h(12);
  for (int fs = 0; fs < 300; ++fs) {
    std::string k(12, '\0');
    k[0] = static_cast<char>(fs);
    k[1] = static_cast<char>(fs >> 8);
    h.assign(static_cast<NodeId>(fs), k + "handle", true);
  }
  for (int fs = 0; fs < 300; ++fs) {
    std::string k(12, '\0');
    k[0] = static_cast<char>(fs);
    k[1] = static_cast<char>(fs >> 8);
    ASSERT_EQ(h.holder(k + "handle"), static_cast<NodeId>(fs)) << fs;
    ASSERT_FALSE(h.holder(k + "other")) << fs;
  }
}

TEST(HandleIndex, KeysThatAllHashAlike) {
  HandleIndex h(12, same_hash);
  for (std::uint32_t i = 0; i < 600; ++i) h.assign(i, key(i % 3, i, 4 + i % 9), true);
  for (std::uint32_t i = 0; i < 600; i += 2) h.erase(i);
  for (std::uint32_t i = 0; i < 600; ++i) {
    if (i % 2) {
      ASSERT_EQ(h.holder(key(i % 3, i, 4 + i % 9)), i) << i;
    } else {
      ASSERT_FALSE(h.holder(key(i % 3, i, 4 + i % 9))) << i;
    }
  }
}

// Random operations against two std::maps: the relations HandleIndex stands for.
void check_against_model(HandleIndex::KeyHash hash, unsigned seed) {
  HandleIndex h(12, hash);
  std::map<NodeId, std::string> key_of;
  std::map<std::string, NodeId> holder;
  std::mt19937 rng(seed);
  auto some_key = [&] {
    const int fs = static_cast<int>(rng() % 3);
    return key(fs, rng() % 300, 4 + rng() % 20);
  };
  for (int step = 0; step < 40000; ++step) {
    const NodeId id = rng() % 400;
    switch (rng() % 8) {
      case 0:
      case 1:
      case 2: {
        const std::string k = some_key();
        const bool hold = rng() % 4 != 0;
        if (auto old = key_of.find(id); old != key_of.end() && old->second != k) {
          if (auto hd = holder.find(old->second); hd != holder.end() && hd->second == id) {
            holder.erase(hd);
          }
        }
        key_of[id] = k;
        if (hold) holder[k] = id;
        h.assign(id, k, hold);
        break;
      }
      case 3:
        if (auto k = key_of.find(id); k != key_of.end()) holder[k->second] = id;
        h.hold(id);
        break;
      case 4: {
        const std::string k = some_key();
        holder.erase(k);
        h.release(k);
        break;
      }
      case 5:
        if (auto k = key_of.find(id); k != key_of.end()) {
          if (auto hd = holder.find(k->second); hd != holder.end() && hd->second == id) {
            holder.erase(hd);
          }
          key_of.erase(k);
        }
        h.erase(id);
        break;
      case 6: {
        const std::string k = some_key();
        holder[k] = kNoNode;
        h.mark_outside(k);
        break;
      }
      case 7:
        if (rng() % 50 == 0) {
          std::erase_if(holder, [](const auto& kv) { return kv.second == kNoNode; });
          h.forget_outside();
        }
        break;
    }
    if (step % 997 == 0 || step == 39999) {
      std::size_t outside = 0;
      for (const auto& [k, n] : holder) {
        ASSERT_EQ(h.holder(k), n) << "step " << step;
        outside += n == kNoNode;
      }
      ASSERT_EQ(h.outside_count(), outside);
      ASSERT_EQ(h.node_count(), key_of.size());
      for (NodeId n = 0; n < 400; ++n) {
        auto k = key_of.find(n);
        ASSERT_EQ(h.key_of(n), k == key_of.end() ? std::nullopt : std::optional(k->second))
            << "step " << step << " node " << n;
      }
      for (int i = 0; i < 50; ++i) {
        const std::string k = some_key();
        auto hd = holder.find(k);
        ASSERT_EQ(h.holder(k), hd == holder.end() ? std::nullopt : std::optional(hd->second));
      }
    }
  }
}

TEST(HandleIndex, RandomOperationsMatchTwoMaps) { check_against_model(nullptr, 1); }
TEST(HandleIndex, RandomOperationsMatchTwoMapsWhenAllKeysHashAlike) {
  check_against_model(same_hash, 2);
}

}  // namespace
}  // namespace lookout::core
