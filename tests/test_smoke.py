def test_skillbase_saves_first_version(skillbase):
    assert skillbase.version == 1
    assert skillbase.versions.get().config["flow"]["start"] == "greeting"
