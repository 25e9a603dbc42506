@unit
Feature: Retention limits and their syntax, without a database
  Which of a plan's checkpoints a prune removes is pure logic over their times
  and the bytes each prefix holds; sizes and durations are the command line's.

  Scenario Outline: Sizes are decimal unless they say otherwise
    Then the size "<text>" is <bytes> bytes

    Examples:
      | text   | bytes      |
      | 2GB    | 2000000000 |
      | 500MB  | 500000000  |
      | 1.5GB  | 1500000000 |
      | 10 kb  | 10000      |
      | 1024   | 1024       |
      | 7B     | 7          |
      | 4GiB   | 4294967296 |
      | 1TB    | 1000000000000 |

  Scenario Outline: Durations take s, m, h, d and w
    Then the duration "<text>" is <seconds> seconds

    Examples:
      | text  | seconds |
      | 90s   | 90      |
      | 15m   | 900     |
      | 12h   | 43200   |
      | 7d    | 604800  |
      | 2w    | 1209600 |
      | 1d12h | 129600  |
      | 0s    | 0       |

  Scenario: Sizes and durations that do not parse are refused
    Then each of these sizes is refused: "2XB", "-5GB", "", "GB", "1e9", "2 G B", "99999999999TB"
    And each of these durations is refused: "7", "7x", "-1d", "", "d", "1.5h", "7 d", "d7"

  Scenario: A prune removes the fewest oldest checkpoints that make every limit hold
    Then for random checkpoint times, byte counts and limits the removal is the smallest that satisfies them, never the newest but for keep_last

  Scenario: Limits are checked before anything is removed
    Then retention limits refuse no limit, negative numbers, booleans and negative durations
