from modelyard_metadata.main import main

main()
