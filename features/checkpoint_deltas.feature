Feature: New versions of files are stored as deltas of earlier ones
  A changed file is stored as a zstd delta of its previous version (the previous
  version's bytes as dictionary) where that is smaller; a moved file as a delta of
  the file it replaced. Chains stay at most 16 deltas deep, every base a kept
  object needs stays through prune and delete, and objects written by earlier
  versions (zlib, zlib deltas) are still read. The stored bytes are checked raw,
  with SQL, against the format: a delta is 0x01, its base's sha256, its depth, then
  a zstd frame.

  Background:
    Given a checkpoint service
    And a sandbox holding a 20 KB source file "src/big.py" and "README.md"
    And the sandbox is snapshotted for plan "plan-1"

  Scenario: A changed file is a delta of its previous version, and each checkpoint restores exactly
    When "src/big.py" has one line edited and is snapshotted 2 more times
    Then the stored content of "src/big.py" in checkpoint 2 is a delta of its content in checkpoint 1
    And the stored content of "src/big.py" in checkpoint 3 is a delta of its content in checkpoint 2
    And the delta of "src/big.py" in checkpoint 3 is smaller than a tenth of the file
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted

  Scenario: After a restart, a changed folder's tree is a delta of the baseline's tree
    Given a sandbox of 40 small source files that share their lines, in "src/"
    When the sandbox is snapshotted for plan "plan-1"
    And the checkpoint service is started again on the same database
    And "src/big.py" has one line edited and is snapshotted 1 more times
    Then checkpoint 3's "src" tree is stored as a delta of checkpoint 2's
    And the stored content of "src/big.py" in checkpoint 3 is a delta of its content in checkpoint 2
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted

  Scenario: A moved file is a delta of the file it replaced
    When "src/big.py" is moved to "lib/big.py" with one line edited and snapshotted
    Then the stored content of "lib/big.py" in checkpoint 2 is a delta of the content of "src/big.py" in checkpoint 1
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted

  Scenario: Deltas restore and verify exactly across prunes, their bases kept
    When "src/big.py" has one line edited and is snapshotted 5 more times
    And I prune plan "plan-1" keeping 2
    Then the bases of every stored delta are stored
    And no stored object is unreachable
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted
    When I prune plan "plan-1" keeping 1
    Then the bases of every stored delta are stored
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted

  Scenario: A damaged base fails verification and restore of every version built on it
    When "src/big.py" has one line edited and is snapshotted 2 more times
    And the stored content of "src/big.py" in checkpoint 1 is damaged in its zstd frame
    Then checkpoint 3 does not verify
    And checkpoint 1 does not verify
    When I try to restore checkpoint 3 into a new folder
    Then it fails with IntegrityCheckError
    And the new folder does not exist

  Scenario: A base whose content was replaced by other valid content fails the re-hash
    When "src/big.py" has one line edited and is snapshotted 1 more times
    And the stored content of "src/big.py" in checkpoint 1 is replaced by other content
    Then checkpoint 2 does not verify
    When I try to restore checkpoint 2 into a new folder
    Then it fails with IntegrityCheckError

  Scenario: Delta chains stay within their bound
    When "src/big.py" has one line edited and is snapshotted 40 more times
    Then every stored delta chain, followed with SQL, is at most 16 deep and some are deeper than 8
    And every delta's recorded depth is its chain's length
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted

  Scenario: Objects in the zlib formats written before zstd are still read, and built upon
    A zlib delta records no depth: nothing new is packed against it.
    When "src/big.py" has one line edited and is snapshotted 1 more times
    And every stored object is rewritten in the zlib format, "src/big.py" of checkpoint 2 as a zlib delta
    Then every stored object starts like a zlib stream or the zlib delta mark
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted
    When "src/big.py" has one line edited and is snapshotted 2 more times
    Then the stored content of "src/big.py" in checkpoint 3 is stored whole
    And the stored content of "src/big.py" in checkpoint 4 is a delta of its content in checkpoint 3
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted

  Scenario Outline: Snapshot content with bad delta hints is refused and nothing is written
    When I try to create a checkpoint whose content's delta_bases is <hints>
    Then it fails with ValueError
    And plan "plan-x" keeps no checkpoint

    Examples:
      | hints                       |
      | a list                      |
      | a hash mapped to a number   |
      | a hash mapped to "not-hex"  |
