*** Settings ***
Documentation       ``cleveragents db``: Alembic migrations of the configured database.
Resource            resources/cli.resource
Suite Setup         Create Suite Temp Dir
Suite Teardown      Remove Suite Temp Dir
Test Setup          Use Fresh Database


*** Variables ***
${HEAD}     0002


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
