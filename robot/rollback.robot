*** Settings ***
Documentation       ``cleveragents plan rollback`` on the sandbox the demo kept: a dry run
...                 changes nothing, a rollback resets the sandbox and marks the records
...                 after the checkpoint, rolling back to the safety checkpoint undoes it,
...                 and a checkpoint that is unknown (exit 3) or of another plan (exit 2)
...                 is refused with one ``error:`` line.
Resource            resources/cli.resource
Suite Setup         Create Suite Temp Dir
Suite Teardown      Remove Suite Temp Dir
Test Setup          Record A Demo And Keep Its Sandbox
Test Teardown       Remove The Kept Folders


*** Variables ***
@{ROLLBACK_FIELDS}      plan_id    checkpoint_id    safety_checkpoint_id    sandbox_dir
...                     written    removed    rolled_back_entries    rolled_back_invocations
...                     dry_run
@{INITIAL_FILES}        README.md    app/legacy.py    app/main.py    app/util.py
...                     tests/test_util.py


*** Test Cases ***
A Dry Run Reports The Reset And Changes Nothing
    ${before}=    Files In Sandbox
    ${result}=    Run Cleveragents    plan    rollback    ${PLAN}    ${FIRST}
    ...    --sandbox    ${SANDBOX}    --dry-run    --format    json
    Should Have Succeeded    ${result}
    ${report}=    Parse Json    ${result.stdout}
    ${keys}=    Get Dictionary Keys    ${report}    sort_keys=False
    Should Be Equal    ${keys}    ${ROLLBACK_FIELDS}
    Should Be True    ${report}[dry_run]
    Should Be Equal    ${report}[safety_checkpoint_id]    ${None}
    Should Not Be Empty    ${report}[written]
    Should Be True    ${report}[rolled_back_entries] > 0
    ${after}=    Files In Sandbox
    Should Be Equal    ${before}    ${after}
    ${rolled_back}=    Rolled Back Entries
    Should Be Equal As Integers    ${rolled_back}    0

A Rollback Resets The Sandbox And Marks What Came After
    ${result}=    Run Cleveragents    plan    rollback    ${PLAN}    ${FIRST}
    ...    --sandbox    ${SANDBOX}    --format    json
    Should Have Succeeded    ${result}
    ${report}=    Parse Json    ${result.stdout}
    Should Not Be True    ${report}[dry_run]
    Should Not Be Equal    ${report}[safety_checkpoint_id]    ${None}
    Should Be True    ${report}[rolled_back_entries] > 0
    ${files}=    Files In Sandbox
    Should Be Equal    ${files}    ${INITIAL_FILES}
    ${rolled_back}=    Rolled Back Entries
    Should Be Equal As Integers    ${rolled_back}    ${report}[rolled_back_entries]
    ${checkpoints}=    Run Cleveragents    checkpoint    list    ${PLAN}    --format    json
    ${listed}=    Parse Json    ${checkpoints.stdout}
    Should Be Equal    ${listed}[checkpoints][-1][checkpoint_type]    pre_rollback
    Should Be Equal    ${listed}[checkpoints][-1][checkpoint_id]    ${report}[safety_checkpoint_id]

Rolling Back To The Safety Checkpoint Undoes The Rollback
    ${before}=    Files In Sandbox
    ${first}=    Run Cleveragents    plan    rollback    ${PLAN}    ${FIRST}
    ...    --sandbox    ${SANDBOX}    --format    json
    Should Have Succeeded    ${first}
    ${report}=    Parse Json    ${first.stdout}
    ${undo}=    Run Cleveragents    plan    rollback    ${PLAN}    ${report}[safety_checkpoint_id]
    ...    --sandbox    ${SANDBOX}    --format    json
    Should Have Succeeded    ${undo}
    ${after}=    Files In Sandbox
    Should Be Equal    ${before}    ${after}
    ${rolled_back}=    Rolled Back Entries
    Should Be Equal As Integers    ${rolled_back}    0

Plain, Yaml And Rich Text Describe The Same Rollback
    ${plain}=    Run Cleveragents    plan    rollback    ${PLAN}    ${FIRST}
    ...    --sandbox    ${SANDBOX}    --dry-run    --format    plain
    Should Have Succeeded    ${plain}
    ${lines}=    Split To Lines    ${plain.stdout}
    Should Be Equal    ${lines}[0]    plan: ${PLAN}
    Should Contain    ${lines}    checkpoint: ${FIRST}
    Should Contain    ${lines}    safety_checkpoint: null
    Should Contain    ${lines}    dry_run: true
    ${yaml}=    Run Cleveragents    plan    rollback    ${PLAN}    ${FIRST}
    ...    --sandbox    ${SANDBOX}    --dry-run    --format    yaml
    Should Have Succeeded    ${yaml}
    ${from_yaml}=    Parse Yaml    ${yaml.stdout}
    ${json}=    Run Cleveragents    plan    rollback    ${PLAN}    ${FIRST}
    ...    --sandbox    ${SANDBOX}    --dry-run    --format    json
    ${from_json}=    Parse Json    ${json.stdout}
    Should Be Equal    ${from_yaml}    ${from_json}
    ${rich}=    Run Cleveragents    plan    rollback    ${PLAN}    ${FIRST}
    ...    --sandbox    ${SANDBOX}    --format    rich
    Should Have Succeeded    ${rich}
    Should Contain    ${rich.stdout}    plan ${PLAN} rolled back to checkpoint ${FIRST}
    Should Contain    ${rich.stdout}    undo with checkpoint
    Should Match Regexp    ${rich.stdout}    (?m)^rolled_back_entries: \\d+$

An Unknown Checkpoint Is Exit 3
    ${before}=    Files In Sandbox
    ${result}=    Run Cleveragents    plan    rollback    ${PLAN}    01JUNKNOWNCHECKPOINT000000
    ...    --sandbox    ${SANDBOX}
    Should Have Failed With    ${result}    3
    ${after}=    Files In Sandbox
    Should Be Equal    ${before}    ${after}

A Checkpoint Of Another Plan Is Exit 2 And Changes Nothing
    ${other}=    Run Cleveragents    demo
    Should Have Succeeded    ${other}
    ${other_plan}=    Get Regexp Matches    ${other.stdout}    (?m)^plan: (\\S+)$    1
    ${theirs}=    First Checkpoint Of    ${other_plan}[0]
    ${before}=    Files In Sandbox
    ${result}=    Run Cleveragents    plan    rollback    ${PLAN}    ${theirs}
    ...    --sandbox    ${SANDBOX}
    Should Have Failed With    ${result}    2
    Should Contain    ${result.stderr}    belongs to plan ${other_plan}[0]
    ${after}=    Files In Sandbox
    Should Be Equal    ${before}    ${after}
    ${rolled_back}=    Rolled Back Entries
    Should Be Equal As Integers    ${rolled_back}    0


*** Keywords ***
Record A Demo And Keep Its Sandbox
    Use Fresh Database
    ${result}=    Run Cleveragents    demo    --keep-sandbox
    Should Have Succeeded    ${result}
    ${plan}=    Get Regexp Matches    ${result.stdout}    (?m)^plan: (\\S+)$    1
    ${sandbox}=    Get Regexp Matches    ${result.stdout}    (?m)^sandbox: (\\S+)$    1
    Set Test Variable    ${PLAN}    ${plan}[0]
    ${restored}=    Get Regexp Matches    ${result.stdout}    (?m)^the restored copy is kept in (\\S+)$    1
    Set Test Variable    ${SANDBOX}    ${sandbox}[0]
    Set Test Variable    ${RESTORED}    ${restored}[0]
    ${first}=    First Checkpoint Of    ${PLAN}
    Set Test Variable    ${FIRST}    ${first}

Remove The Kept Folders
    [Documentation]    The demo keeps its sandbox and its restored copy for the user; a test must not.
    Remove Directory    ${SANDBOX}    recursive=True
    Remove Directory    ${RESTORED}    recursive=True

First Checkpoint Of
    [Arguments]    ${plan}
    ${result}=    Run Cleveragents    checkpoint    list    ${plan}    --format    json
    Should Have Succeeded    ${result}
    ${document}=    Parse Json    ${result.stdout}
    RETURN    ${document}[checkpoints][0][checkpoint_id]

Files In Sandbox
    [Documentation]    The sandbox's files, relative and sorted (folders left out).
    ${files}=    Evaluate
    ...    (lambda root: sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()))(pathlib.Path($SANDBOX))
    ...    modules=pathlib
    RETURN    ${files}

Rolled Back Entries
    [Documentation]    How many of the plan's entries ``plan status`` counts as rolled back.
    ${result}=    Run Cleveragents    plan    status    ${PLAN}    --format    json
    Should Have Succeeded    ${result}
    ${status}=    Parse Json    ${result.stdout}
    ${total}=    Evaluate    sum(c["summary"]["rolled_back"] for c in $status["changesets"])
    RETURN    ${total}
