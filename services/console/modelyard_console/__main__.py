from modelyard_console.main import main

main()
