Feature: Restores and verifies read large stored objects a piece at a time
  A stored object larger than the read batch is decompressed in pieces as a
  restore writes it or a verify hashes it, never held whole twice (a delta's
  base is read whole: it is the dictionary). Small sizes are set through
  the repository's content limits so the scenarios stay fast; "assets/mid.bin"
  is above the size of the files packed against a shared dictionary (64 KiB).

  Background:
    Given a checkpoint service storing content in chunks of 262144 bytes and reading 1024 bytes at a time
    And a sandbox of 5 files of random bytes and "assets/mid.bin" of 100000 random bytes
    And I snapshot the sandbox for plan "plan-1" before decision "d1"

  Scenario: An object above the read batch comes back in pieces, restores exactly and verifies
    Then the content of "assets/mid.bin" is read back from the store in 98 pieces of at most 1024 bytes
    And the last checkpoint verifies
    When I restore the last checkpoint into a new folder
    Then the new folder holds exactly the files of the sandbox

  Scenario: A delta above the read batch comes back in pieces too, restores exactly and verifies
    When "assets/mid.bin" changes in a few bytes
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    Then the stored object of "assets/mid.bin" is a delta
    And the content of "assets/mid.bin" is read back from the store in 98 pieces of at most 1024 bytes
    And the last checkpoint verifies
    When I restore the last checkpoint into a new folder
    Then the new folder holds exactly the files of the sandbox

  Scenario: A delta of a delta above the read batch comes back in pieces, restores exactly and verifies
    When "assets/mid.bin" changes in a few bytes
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    And "assets/mid.bin" changes in a few more bytes
    And I snapshot the sandbox for plan "plan-1" before decision "d3"
    Then the stored object of "assets/mid.bin" is a delta 2 deep
    And the content of "assets/mid.bin" is read back from the store in 98 pieces of at most 1024 bytes
    And the last checkpoint verifies
    When I restore the last checkpoint into a new folder
    Then the new folder holds exactly the files of the sandbox

  Scenario: A small file packed against a shared dictionary comes back in pieces too
    Given a sandbox of 12 files of random bytes and "assets/small.bin" of 20000 random bytes
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    Then the stored object of "assets/small.bin" is a delta of a dictionary
    And the content of "assets/small.bin" is read back from the store in 20 pieces of at most 1024 bytes
    And the last checkpoint verifies
    When I restore the last checkpoint into a new folder
    Then the new folder holds exactly the files of the sandbox

  Scenario: A delta above the read batch whose base is gone is reported by verify and refused by restore
    When "assets/mid.bin" changes in a few bytes
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    And the base of the stored object of "assets/mid.bin" is deleted from the database
    Then the last checkpoint does not verify
    And restoring the last checkpoint into a new folder fails with an integrity error and leaves no folder

  Scenario: An object stored with zlib before zstd is read in pieces too
    When the stored object of "assets/mid.bin" is stored again with zlib, as before zstd
    Then the content of "assets/mid.bin" is read back from the store in 98 pieces of at most 1024 bytes
    And the last checkpoint verifies
    When I restore the last checkpoint into a new folder
    Then the new folder holds exactly the files of the sandbox

  Scenario: A damaged object above the read batch is reported by verify and refused by restore
    When the stored object of "assets/mid.bin" is damaged after its first bytes
    Then the last checkpoint does not verify
    And restoring the last checkpoint into a new folder fails with an integrity error and leaves no folder

  Scenario: Reads of batches of every length share a few statements
    Given a sandbox of 40 files of random bytes and "assets/mid.bin" of 100 random bytes
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    When the stored contents are read back in batches of every length from 1 to 41
    Then every batch came back whole
    And the reads ran at most 14 distinct statements

  Scenario: An object deleted while it is read in pieces is reported, never read from another row
    When the content of "assets/mid.bin" is read a piece at a time and its stored object is deleted after the first piece
    Then reading the rest of it raises IntegrityCheckError saying that it was removed
