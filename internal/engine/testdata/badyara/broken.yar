rule Broken {
    strings:
        $a = "VIGIL-BROKEN"
    condition:
        $a or
}
