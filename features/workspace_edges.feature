Feature: Edges of the sandbox: odd ignore files, refused excludes, files above the size limit
  A snapshot reads .gitignore files as git does, even odd ones; a service refuses
  an exclude it could not apply; a restore leaves a file above the size limit alone.

  Scenario: Rules files with a byte order mark, CRLF lines and lines git cannot parse are read as git reads them
    Given a sandbox holding
      | path           | content |
      | app.py         | app     |
      | a.log          | log     |
      | keep.txt       | keep    |
      | #hash.txt      | hash    |
      | sub/x.tmp      | tmp     |
      | sub/y.py       | y       |
      | odd/.gitignore/inside.txt | a folder named like a rules file |
      | odd/z.log      | z       |
    And the sandbox is a git work tree
    And the sandbox's ".gitignore" holds the bytes "\xef\xbb\xbfkeep.txt\r\n[z-a]\r\n*.log\r\n\\#hash.txt\r\ntrailing\\"
    And the sandbox's "sub/.gitignore" holds the bytes "*.tmp\n!\n"
    And a checkpoint service
    When I snapshot the sandbox for plan "plan-1" before decision "d1"
    Then the snapshot holds exactly what git lists
    And the snapshot holds exactly ".gitignore, app.py, odd/.gitignore/inside.txt, sub/.gitignore, sub/y.py"

  Scenario Outline: An exclude a service could not apply is refused: <pattern>
    When I try to make a checkpoint service excluding <pattern>
    Then it is refused with a ValueError naming "<message>"

    Examples:
      | pattern           | message                     |
      | "[z-a]"           | not a gitignore pattern     |
      | "!"               | not a gitignore pattern     |
      | "a\\"             | not a gitignore pattern     |
      | "two\nlines"      | one gitignore pattern line  |
      | ""                | non-empty gitignore pattern |

  Scenario: A file above the size limit is left alone by a restore and listed as skipped
    Given a sandbox holding
      | path      | content                                                       |
      | small.txt | v1                                                            |
      | big.bin   | a file well above the sixty-four byte size limit that this checkpoint service has, v1 |
    And a checkpoint service excluding "*.tmp" with a size limit of 64 bytes
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    And I change "small.txt" to "v2"
    And I change "big.bin" to "a file well above the sixty-four byte size limit that this checkpoint service has, v2"
    When I restore checkpoint 1 into the sandbox
    Then the restore wrote "small.txt" and removed ""
    And the restore skipped "big.bin"
    And "big.bin" still holds "a file well above the sixty-four byte size limit that this checkpoint service has, v2"
    And "small.txt" still holds "v1"

  Scenario: Recovery leaves alone the staging folder of a live swap, and a file that only has a staging name
    Given a sandbox holding
      | path  | content |
      | a.txt | a       |
    And a live swap holds a staging folder in the sandbox
    And the sandbox holds a file named ".cleveragents-apply-not-a-folder"
    When the sandbox is recovered
    Then the recovery undid nothing
    And the live swap's staging folder and the file are still there
    When the live swap ends
    Then the sandbox holds no staging folder, only the file with a staging name

  @unit
  Scenario: A walk that keeps unchanged folders whole by its tables finds what a full scan finds
    Given a tree of 60 files in five folders, older than the racy window
    When each of 24 random steps changes the tree and it is walked with and without tables
    Then every walk lists what a full scan lists, and unchanged folders were kept whole
    And tables hold for a walk whose racy bound is at or after theirs, not before

  @unit
  Scenario Outline: A folder is kept whole only when all its files match: <change>
    Given a tree of 60 files in five folders, older than the racy window
    When the tree is walked again with its tables after <change>
    Then it lists what a full scan lists, and <kept> of the five folders' tables are handed on

    Examples:
      | change                                              | kept          |
      | nothing changed                                     | all           |
      | one file's bytes changed, its size and mtime kept   | all but "a/"  |
      | one file was deleted                                | all but "a/"  |
      | one file was added                                  | all but "a/"  |
      | one file was excluded                               | all but "a/"  |

  @unit
  Scenario: A file with a second hard link sends its folder to the file-by-file look
    Given a tree of 60 files in five folders, older than the racy window
    When the tree is walked again with its tables after one file got a second hard link beside it
    Then it lists what a full scan lists, and all but "a/" of the five folders' tables are handed on
    And "a/f001.txt" is noted as linked
