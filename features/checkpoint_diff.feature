Feature: The content diff between two checkpoints
  CheckpointService.diff_checkpoints compares any two checkpoints' snapshots and
  shows, path by path, what git diff would show: unified hunks for text, against
  /dev/null for a path only one side has, a marker for binary content, a
  symlink's target as its content, and headers for a mode change or an empty
  folder. Only the paths where the snapshots differ are read.

  Background:
    Given a checkpoint service excluding "*.tmp" with a size limit of 64 bytes
    And a sandbox holding
      | path          | content     |
      | README.md     | # project   |
    And I write "notes.txt" with the lines "one|two|three"
    And I write "gone.txt" with the lines "bye"
    And I write "run.sh" with the lines "echo hi"
    And I snapshot the sandbox for plan "plan-1" before decision "d1"

  Scenario: A changed text file is a unified diff, as git shows it
    Given I write "notes.txt" with the lines "one|2|three|four"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    When I diff checkpoint 1 to checkpoint 2
    Then the diff is exactly
      """
      diff --git a/notes.txt b/notes.txt
      --- a/notes.txt
      +++ b/notes.txt
      @@ -1,3 +1,4 @@
       one
      -two
      +2
       three
      +four
      """
    And the diff lists "notes.txt" as modified with 2 insertions and 1 deletion

  Scenario: A file only one side has is diffed against /dev/null with its mode
    Given I delete "gone.txt"
    And I write "new.txt" with the lines "hello|world"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    When I diff checkpoint 1 to checkpoint 2
    Then the diff is exactly
      """
      diff --git a/gone.txt b/gone.txt
      deleted file mode 100644
      --- a/gone.txt
      +++ /dev/null
      @@ -1 +0,0 @@
      -bye
      diff --git a/new.txt b/new.txt
      new file mode 100644
      --- /dev/null
      +++ b/new.txt
      @@ -0,0 +1,2 @@
      +hello
      +world
      """
    And the diff lists "new.txt" as added with 2 insertions and 0 deletions
    And the diff lists "gone.txt" as deleted with 0 insertions and 1 deletion

  Scenario: Diffing backwards swaps the sides
    Given I delete "gone.txt"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    When I diff checkpoint 2 to checkpoint 1
    Then the diff lists "gone.txt" as added with 1 insertion and 0 deletions

  Scenario: A last line without a newline is marked as git marks it
    Given I write the bytes "x\ny" to "notes.txt"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    When I diff checkpoint 1 to checkpoint 2
    Then the diff is exactly
      """
      diff --git a/notes.txt b/notes.txt
      --- a/notes.txt
      +++ b/notes.txt
      @@ -1,3 +1,2 @@
      -one
      -two
      -three
      +x
      +y
      \ No newline at end of file
      """

  Scenario Outline: Content that is not text is marked as binary
    Given I write the bytes "<before>" to "data.bin"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    And I write the bytes "<after>" to "data.bin"
    And I snapshot the sandbox for plan "plan-1" before decision "d3"
    When I diff checkpoint 2 to checkpoint 3
    Then the diff is exactly
      """
      diff --git a/data.bin b/data.bin
      Binary files a/data.bin and b/data.bin differ
      """
    And the diff marks "data.bin" as binary

    Examples:
      | before       | after         |
      | text\x00nul  | text\x00null  |
      | caf\xe9      | caf\xe8       |
      | plain text   | caf\xe9       |

  Scenario: An added binary file is marked against /dev/null
    Given I write the bytes "\x89PNG\x00" to "image.png"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    When I diff checkpoint 1 to checkpoint 2
    Then the diff is exactly
      """
      diff --git a/image.png b/image.png
      new file mode 100644
      Binary files /dev/null and b/image.png differ
      """

  Scenario: A mode change alone is a header without hunks
    Given I make "run.sh" executable
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    When I diff checkpoint 1 to checkpoint 2
    Then the diff is exactly
      """
      diff --git a/run.sh b/run.sh
      old mode 100644
      new mode 100755
      """
    And the diff lists "run.sh" as modified with 0 insertions and 0 deletions

  Scenario: A symlink's content is its target
    Given the sandbox holds a symlink "link" to "notes.txt"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    And I point the symlink "link" to "README.md"
    And I snapshot the sandbox for plan "plan-1" before decision "d3"
    When I diff checkpoint 2 to checkpoint 3
    Then the diff is exactly
      """
      diff --git a/link b/link
      --- a/link
      +++ b/link
      @@ -1 +1 @@
      -notes.txt
      \ No newline at end of file
      +README.md
      \ No newline at end of file
      """

  Scenario: A file that becomes a symlink is deleted, then added
    Given I replace "gone.txt" with a symlink to "notes.txt"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    When I diff checkpoint 1 to checkpoint 2
    Then the diff is exactly
      """
      diff --git a/gone.txt b/gone.txt
      deleted file mode 100644
      --- a/gone.txt
      +++ /dev/null
      @@ -1 +0,0 @@
      -bye
      diff --git a/gone.txt b/gone.txt
      new file mode 120000
      --- /dev/null
      +++ b/gone.txt
      @@ -0,0 +1 @@
      +notes.txt
      \ No newline at end of file
      """

  Scenario: Empty folders that appear or disappear are listed as headers
    Given I make the empty folder "cache"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    And I remove the empty folder "cache"
    And I make the empty folder "build/out"
    And I snapshot the sandbox for plan "plan-1" before decision "d3"
    When I diff checkpoint 2 to checkpoint 3
    Then the diff is exactly
      """
      diff --git a/build/out/ b/build/out/
      new empty folder
      diff --git a/cache/ b/cache/
      deleted empty folder
      """
    And the diff lists "cache/" as deleted with 0 insertions and 0 deletions

  Scenario: A file above the size limit, whose content is not stored, is only said to differ
    Given I write the lines "one|two" repeated 40 times to "big.txt"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    And I write the lines "three|four" repeated 40 times to "big.txt"
    And I snapshot the sandbox for plan "plan-1" before decision "d3"
    When I diff checkpoint 2 to checkpoint 3
    Then the diff is exactly
      """
      diff --git a/big.txt b/big.txt
      Files a/big.txt and b/big.txt differ (content above the size limit is not stored)
      """
    And the diff marks "big.txt" as binary

  Scenario: A path glob keeps the paths it matches; equal snapshots have an empty diff
    Given I write "src/app.py" with the lines "x = 1"
    And I write "notes.txt" with the lines "changed"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    When I diff checkpoint 1 to checkpoint 2 keeping the paths "src/*"
    Then the diff shows the paths "src/app.py"
    When I diff checkpoint 1 to checkpoint 2 keeping the paths "*.txt"
    Then the diff shows the paths "notes.txt"
    When I diff checkpoint 2 to checkpoint 2
    Then the diff shows the paths ""

  Scenario: Any two checkpoints compare, of one plan or of two
    Given I write "notes.txt" with the lines "other plan"
    And I snapshot the sandbox for plan "plan-2" before decision "d1"
    When I diff checkpoint 1 to checkpoint 2
    Then the diff shows the paths "notes.txt"

  Scenario: An unknown checkpoint, a checkpoint without a snapshot and damaged content are refused
    Given I create a manual checkpoint for plan "plan-1" with description "no snapshot"
    When I try to diff checkpoint 1 to "01NOSUCHCHECKPOINT"
    Then it fails with RecordNotFoundError
    When I try to diff checkpoint 1 to checkpoint 2
    Then it fails with ValueError
    And the error says "has no workspace snapshot"
    When I try to diff checkpoint 2 to checkpoint 1
    Then it fails with ValueError
    Given I write "notes.txt" with the lines "changed"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    When the stored content of "notes.txt" is corrupted
    And I try to diff checkpoint 1 to checkpoint 3
    Then it fails with IntegrityCheckError
    When the stored content of "notes.txt" is removed from the store
    And I try to diff checkpoint 1 to checkpoint 3
    Then it fails with IntegrityCheckError
    And the error says "is missing"

  Scenario: A path glob that is not text is refused
    When I try to diff checkpoint 1 to checkpoint 1 keeping the paths 42
    Then it fails with ValueError
