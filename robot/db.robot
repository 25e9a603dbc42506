*** Settings ***
Documentation       ``cleveragents db``: Alembic migrations of the configured database.
Resource            resources/cli.resource
Suite Setup         Create Suite Temp Dir
Suite Teardown      Remove Suite Temp Dir
Test Setup          Use Fresh Database


*** Variables ***
${HEAD}     0006
@{ERROR_PATTERN_TABLES}    error_pattern_terms    error_patterns


*** Test Cases ***
Fresh Database Has No Revision
    ${result}=    Run Cleveragents    db    current
    Should Have Succeeded    ${result}
    Should Be Equal    ${result.stdout}    none

Upgrade Reaches The Head Revision
    ${result}=    Run Cleveragents    db    upgrade
    Should Have Succeeded    ${result}
    Should Be Equal    ${result.stdout}    ${HEAD}
    ${current}=    Run Cleveragents    db    current
    Should Have Succeeded    ${current}
    Should Be Equal    ${current.stdout}    ${HEAD}

Downgrade To Base And Upgrade Again
    ${up}=    Run Cleveragents    db    upgrade
    Should Have Succeeded    ${up}
    ${down}=    Run Cleveragents    db    downgrade    base
    Should Have Succeeded    ${down}
    Should Be Equal    ${down.stdout}    none
    ${current}=    Run Cleveragents    db    current
    Should Be Equal    ${current.stdout}    none
    ${again}=    Run Cleveragents    db    upgrade    head
    Should Have Succeeded    ${again}
    Should Be Equal    ${again.stdout}    ${HEAD}

Upgrade Is Idempotent
    FOR    ${i}    IN RANGE    2
        ${result}=    Run Cleveragents    db    upgrade    head
        Should Have Succeeded    ${result}
        Should Be Equal    ${result.stdout}    ${HEAD}
    END

Plan Commands Migrate A Fresh Database
    ${result}=    Run Cleveragents    plan    cleanup    nothing-here
    Should Have Succeeded    ${result}
    ${current}=    Run Cleveragents    db    current
    Should Be Equal    ${current.stdout}    ${HEAD}

Errors Commands Migrate A Fresh Database
    ${result}=    Run Cleveragents    errors    stats
    Should Have Succeeded    ${result}
    ${current}=    Run Cleveragents    db    current
    Should Be Equal    ${current.stdout}    ${HEAD}
    ${tables}=    Tables Of The Database
    List Should Contain Sub List    ${tables}    ${ERROR_PATTERN_TABLES}

Downgrade To 0002 Drops The Error Pattern Tables And Upgrade Brings Them Back
    ${plan}    ${changeset}=    Record Demo Plan
    ${stored}=    Run Cleveragents    errors    list    --format    json
    ${patterns}=    Parse Json    ${stored.stdout}
    Length Should Be    ${patterns}    1
    ${down}=    Run Cleveragents    db    downgrade    0002
    Should Have Succeeded    ${down}
    Should Be Equal    ${down.stdout}    0002
    ${current}=    Run Cleveragents    db    current
    Should Be Equal    ${current.stdout}    0002
    ${tables}=    Tables Of The Database
    FOR    ${table}    IN    @{ERROR_PATTERN_TABLES}
        List Should Not Contain Value    ${tables}    ${table}
    END
    List Should Contain Value    ${tables}    checkpoints
    List Should Contain Value    ${tables}    changesets
    ${up}=    Run Cleveragents    db    upgrade
    Should Have Succeeded    ${up}
    Should Be Equal    ${up.stdout}    ${HEAD}
    ${tables}=    Tables Of The Database
    List Should Contain Sub List    ${tables}    ${ERROR_PATTERN_TABLES}
    # The tables come back empty; the plan of revisions 0001 and 0002 is still there.
    ${after}=    Run Cleveragents    errors    list    --format    json
    Should Have Succeeded    ${after}
    Should Be Equal    ${after.stdout}    []
    ${status}=    Run Cleveragents    plan    status    ${plan}    --format    json
    Should Have Succeeded    ${status}

Unknown Upgrade Revision Is A Usage Error
    ${result}=    Run Cleveragents    db    upgrade    no-such-revision
    Should Have Failed With    ${result}    2
    Should Contain    ${result.stderr}    no-such-revision

Unknown Downgrade Revision Is A Usage Error
    ${up}=    Run Cleveragents    db    upgrade
    Should Have Succeeded    ${up}
    ${result}=    Run Cleveragents    db    downgrade    no-such-revision
    Should Have Failed With    ${result}    2
    ${current}=    Run Cleveragents    db    current
    Should Be Equal    ${current.stdout}    ${HEAD}

Downgrade Needs A Revision
    ${result}=    Run Cleveragents    db    downgrade
    Should Have Failed With    ${result}    2
    Should Contain    ${result.stderr}    REV

Unreachable Database Fails Operationally
    ${result}=    Run Bare Cleveragents
    ...    --database-url    postgresql+psycopg://u:secret@127.0.0.1:1/x    db    current
    Should Have Failed With    ${result}    1
    Should Not Contain    ${result.stderr}    secret


*** Keywords ***
Tables Of The Database
    [Documentation]    The table names of the test's SQLite file, sorted.
    ${path}=    Evaluate    $DB_URL.removeprefix("sqlite:///")
    ${tables}=    Evaluate
    ...    (lambda db: (sorted(row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")), db.close())[0])(sqlite3.connect($path))
    ...    modules=sqlite3
    RETURN    ${tables}
