#include "cotrain/core/atomic_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/shared_data.h"

namespace cotrain {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(AtomicFile, AppearsOnlyOnCommit) {
  auto dir = test::scratch_dir();
  auto target = dir / "sub" / "out.txt";
  {
    AtomicFile f(target);
    f.stream() << "hello";
    EXPECT_FALSE(fs::exists(target));
    f.commit();
  }
  EXPECT_EQ(slurp(target), "hello");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "sub"), fs::directory_iterator{}), 1);
}

TEST(AtomicFile, AbandonedLeavesNothingAndKeepsOldContent) {
  auto dir = test::scratch_dir();
  auto target = dir / "out.txt";
  std::ofstream(target) << "old";
  {
    AtomicFile f(target);
    f.stream() << "new";
  }
  EXPECT_EQ(slurp(target), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1);
}

TEST(AtomicDir, ReplacesExistingDirectoryOnCommitOnly) {
  auto dir = test::scratch_dir();
  auto target = dir / "run";
  fs::create_directories(target);
  std::ofstream(target / "old.txt") << "old";
  {
    AtomicDir d(target);
    std::ofstream(d.path() / "new.txt") << "new";
  }
  EXPECT_TRUE(fs::exists(target / "old.txt"));
  {
    AtomicDir d(target);
    std::ofstream(d.path() / "new.txt") << "new";
    d.commit();
  }
  EXPECT_FALSE(fs::exists(target / "old.txt"));
  EXPECT_EQ(slurp(target / "new.txt"), "new");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1);
}

}  // namespace
}  // namespace cotrain
