from modelyard_registry.main import main

main()
