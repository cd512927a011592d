rule Undefined_Identifier
{
    condition:
        no_such_identifier > 3
}
